package plugin

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// readmeSection returns the README text between <!-- NAME:start --> and <!-- NAME:end -->.
func readmeSection(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start, end := "<!-- "+name+":start -->", "<!-- "+name+":end -->"
	i, j := strings.Index(text, start), strings.Index(text, end)
	if i < 0 || j < i {
		t.Fatalf("README.md has no %s section between %q and %q", name, start, end)
	}
	return text[i+len(start) : j]
}

// tableKeys collects the first-column `code` names of a Markdown table.
func tableKeys(section string) map[string]bool {
	keys := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([^`]+)` \\|").FindAllStringSubmatch(section, -1) {
		keys[m[1]] = true
	}
	return keys
}

// writeReadmeSection replaces the README text between a section's markers.
func writeReadmeSection(t *testing.T, name, text string) {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	start, end := "<!-- "+name+":start -->", "<!-- "+name+":end -->"
	i, j := strings.Index(s, start), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("README.md has no %s section", name)
	}
	if err := os.WriteFile("../README.md", []byte(s[:i+len(start)]+text+s[j:]), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The README's metrics list names exactly the counters the plugin defines.
func TestMetricsReferenceMatchesCode(t *testing.T) {
	documented := tableKeys(readmeSection(t, "metrics-reference"))
	for _, name := range metricNames {
		if !documented[name] {
			t.Errorf("metric %q is not documented in the README", name)
		}
		delete(documented, name)
	}
	for k := range documented {
		t.Errorf("metric %q is documented but not defined", k)
	}
}

// Every test SECURITY.md names as the proof of a guarantee exists, so a renamed or deleted
// test cannot leave a guarantee proved by nothing.
func TestSecurityDocNamesExistingTests(t *testing.T) {
	doc, err := os.ReadFile("../SECURITY.md")
	if err != nil {
		t.Fatal(err)
	}
	defined := map[string]bool{}
	decl := regexp.MustCompile(`(?m)^func ((?:Test|Fuzz)\w+)\(`)
	for _, dir := range []string{"../plugin", "../oidc", "../e2e", "../examples/validate", "../internal/testidp"} {
		files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range decl.FindAllStringSubmatch(string(src), -1) {
				defined[m[1]] = true
			}
		}
	}
	named := regexp.MustCompile("`((?:Test|Fuzz)\\w+)`").FindAllStringSubmatch(string(doc), -1)
	if len(named) == 0 {
		t.Fatal("SECURITY.md names no test")
	}
	for _, m := range named {
		if !defined[m[1]] {
			t.Errorf("SECURITY.md names %s, which no test file defines", m[1])
		}
	}
}

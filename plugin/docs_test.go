package plugin

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// docSection returns the text of the document at path (relative to the repository root)
// between <!-- NAME:start --> and <!-- NAME:end -->.
func docSection(t *testing.T, path, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", path))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start, end := "<!-- "+name+":start -->", "<!-- "+name+":end -->"
	i, j := strings.Index(text, start), strings.Index(text, end)
	if i < 0 || j < i {
		t.Fatalf("%s has no %s section between %q and %q", path, name, start, end)
	}
	return text[i+len(start) : j]
}

// configurationDoc holds the configuration reference and the metrics reference.
const configurationDoc = "docs/configuration.md"

// tableKeys collects the first-column `code` names of a Markdown table.
func tableKeys(section string) map[string]bool {
	keys := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([^`]+)` \\|").FindAllStringSubmatch(section, -1) {
		keys[m[1]] = true
	}
	return keys
}

// writeDocSection replaces the text of the document at path between a section's markers.
func writeDocSection(t *testing.T, path, name, text string) {
	t.Helper()
	file := filepath.Join("..", path)
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	start, end := "<!-- "+name+":start -->", "<!-- "+name+":end -->"
	i, j := strings.Index(s, start), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("%s has no %s section", path, name)
	}
	if err := os.WriteFile(file, []byte(s[:i+len(start)]+text+s[j:]), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The metrics reference names exactly the counters the plugin defines.
func TestMetricsReferenceMatchesCode(t *testing.T) {
	documented := tableKeys(docSection(t, configurationDoc, "metrics-reference"))
	for _, name := range metricNames {
		if !documented[name] {
			t.Errorf("metric %q is not documented in %s", name, configurationDoc)
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
	for _, dir := range []string{"../plugin", "../oidc", "../e2e", "../examples/validate", "../internal/testidp", "../internal/proxyhost"} {
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

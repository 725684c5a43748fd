// Package docs holds no code: its tests check the documentation as a whole (README.md, the
// other Markdown files at the root, and docs/*.md) the way a reader on GitHub follows it.
// Tests that compare a document with the code live beside that code (plugin/docs_test.go,
// examples/validate/wasmimports_test.go).
package docs

import (
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// root is the repository root, seen from this package's directory.
const root = ".."

// documents lists every Markdown file the tests read, relative to root.
func documents(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, pattern := range []string{"*.md", "docs/*.md"} {
		matches, err := filepath.Glob(filepath.Join(root, pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range matches {
			rel, err := filepath.Rel(root, m)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, filepath.ToSlash(rel))
		}
	}
	if !slices.Contains(out, "README.md") || !slices.Contains(out, "docs/configuration.md") {
		t.Fatalf("documents found: %v; want README.md and docs/*.md", out)
	}
	return out
}

func read(t *testing.T, doc string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, doc))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var (
	fence       = regexp.MustCompile("^ {0,3}(```|~~~)")
	codeSpan    = regexp.MustCompile("`[^`]*`")
	inlineLink  = regexp.MustCompile(`!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
	definition  = regexp.MustCompile(`(?m)^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)`)
	atxHeading  = regexp.MustCompile(`^ {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$`)
	schemeStart = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)
)

// prose returns the lines of a Markdown document outside fenced code blocks, where a "#" or
// "[x](y)" is code, not a heading or a link.
func prose(text string) []string {
	var out []string
	inFence := ""
	for _, line := range strings.Split(text, "\n") {
		if m := fence.FindStringSubmatch(line); m != nil {
			switch inFence {
			case "":
				inFence = m[1]
			case m[1]:
				inFence = ""
			}
			continue
		}
		if inFence == "" {
			out = append(out, line)
		}
	}
	return out
}

// links returns the targets of the inline links, images and link definitions of a document,
// outside code. Link texts may span lines, so the prose is matched as one text.
func links(text string) []string {
	body := codeSpan.ReplaceAllString(strings.Join(prose(text), "\n"), "``")
	var out []string
	for _, re := range []*regexp.Regexp{inlineLink, definition} {
		for _, m := range re.FindAllStringSubmatch(body, -1) {
			out = append(out, m[1])
		}
	}
	return out
}

// anchors returns the anchors GitHub gives the headings of a document: the heading's text
// (link targets and code marks dropped) in lower case, letters, digits, '_' and '-' kept,
// spaces turned into '-', everything else dropped; a repeated anchor gets "-1", "-2", ...
func anchors(text string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	for _, line := range prose(text) {
		m := atxHeading.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		heading := inlineLink.ReplaceAllStringFunc(m[1], func(l string) string {
			return l[strings.Index(l, "[")+1 : strings.Index(l, "]")]
		})
		var b strings.Builder
		for _, r := range strings.ToLower(heading) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case unicode.IsLetter(r), unicode.IsDigit(r), unicode.Is(unicode.Mn, r), r == '_', r == '-':
				b.WriteRune(r)
			}
		}
		slug := b.String()
		if n := seen[slug]; n > 0 {
			out[slug+"-"+strconv.Itoa(n)] = true
		} else {
			out[slug] = true
		}
		seen[slug]++
	}
	return out
}

func TestAnchors(t *testing.T) {
	text := "# oidc-wasm\n## How it works\n### Builds: TinyGo and Go\n" +
		"## The SDK targets Go; the TinyGo build is ours\n## Refresh across worker VMs (second review, item 5)\n" +
		"## `make test` and [links](x.md)\n## How it works\n```sh\n# not a heading\n```\n"
	want := []string{"oidc-wasm", "how-it-works", "builds-tinygo-and-go", "the-sdk-targets-go-the-tinygo-build-is-ours",
		"refresh-across-worker-vms-second-review-item-5", "make-test-and-links", "how-it-works-1"}
	got := anchors(text)
	for _, a := range want {
		if !got[a] {
			t.Errorf("no anchor %q in %v", a, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("anchors %v, want exactly %v", got, want)
	}
}

func TestLinks(t *testing.T) {
	text := "See [a](a.md#x) and [the\nguide](docs/b.md), ![img](i.png \"title\"), [web](https://example.com).\n" +
		"`[code](no.md)`\n```\n[fenced](no.md)\n```\n[ref]: c.md\n"
	got := links(text)
	want := []string{"a.md#x", "docs/b.md", "i.png", "https://example.com", "c.md"}
	if !slices.Equal(got, want) {
		t.Errorf("links %q, want %q", got, want)
	}
}

// Every relative link of every document leads to a file or directory of the repository, and
// a link with a #fragment to a heading of the Markdown file it names, as GitHub renders them.
// Moving a section or renaming a heading breaks a link here rather than for a reader.
func TestRelativeLinksResolve(t *testing.T) {
	absRoot, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	headings := map[string]map[string]bool{}
	anchorsOf := func(doc string) map[string]bool {
		if headings[doc] == nil {
			headings[doc] = anchors(read(t, doc))
		}
		return headings[doc]
	}
	for _, doc := range documents(t) {
		for _, target := range links(read(t, doc)) {
			if schemeStart.MatchString(target) {
				continue
			}
			pathPart, fragment, _ := strings.Cut(target, "#")
			resolved := doc
			if pathPart != "" {
				p, err := url.PathUnescape(pathPart)
				if err != nil {
					t.Errorf("%s: link %q: %v", doc, target, err)
					continue
				}
				abs := filepath.Join(absRoot, filepath.Dir(doc), p)
				rel, err := filepath.Rel(absRoot, abs)
				if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
					t.Errorf("%s: link %q leaves the repository", doc, target)
					continue
				}
				if _, err := os.Stat(abs); err != nil {
					t.Errorf("%s: link %q: no such file or directory", doc, target)
					continue
				}
				resolved = filepath.ToSlash(rel)
			}
			if fragment == "" {
				continue
			}
			if !strings.HasSuffix(resolved, ".md") {
				t.Errorf("%s: link %q: a #fragment needs a Markdown file", doc, target)
				continue
			}
			if !anchorsOf(resolved)[fragment] {
				t.Errorf("%s: link %q: %s has no heading with the anchor %q", doc, target, resolved, fragment)
			}
		}
	}
}

// The README is the way in: it links every guide in docs/.
func TestReadmeLinksEveryGuide(t *testing.T) {
	linked := map[string]bool{}
	for _, target := range links(read(t, "README.md")) {
		p, _, _ := strings.Cut(target, "#")
		linked[p] = true
	}
	for _, doc := range documents(t) {
		if strings.HasPrefix(doc, "docs/") && !linked[doc] {
			t.Errorf("README.md does not link %s", doc)
		}
	}
}

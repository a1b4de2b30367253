package ui

import (
	"strings"
	"testing"
	"unicode"
)

func TestPrintable(t *testing.T) {
	tests := []struct {
		name, in     string
		keepNewlines bool
		want         string
	}{
		{"plain", "back at 3 ☕", false, "back at 3 ☕"},
		{"escape-sequence", "hi\x1b[2J\x1b]0;owned\x07", false, "hi [2J ]0;owned "},
		{"tab", "a\tb", false, "a b"},
		{"newline-in-a-note", "a\nb", false, "a b"},
		{"newline-in-a-chat", "a\nb\r", true, "a\nb "},
		{"c1-control", "a\u009bb", false, "a b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := printable(tt.in, tt.keepNewlines); got != tt.want {
				t.Errorf("printable(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzPrintable checks that nothing from the network reaches the terminal
// as a control character.
func FuzzPrintable(f *testing.F) {
	for _, s := range []string{"hello", "\x1b[31mred", "a\nb", "\u009b2J", "\xff\xfe"} {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, keepNewlines bool) {
		out := printable(s, keepNewlines)
		if strings.IndexFunc(out, func(r rune) bool { return unicode.IsControl(r) && (r != '\n' || !keepNewlines) }) >= 0 {
			t.Fatalf("printable(%q) = %q keeps a control character", s, out)
		}
	})
}

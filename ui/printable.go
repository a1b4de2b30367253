package ui

import (
	"strings"
	"unicode"

	"github.com/parley-voip/parley/directory"
)

// printable makes text from the network safe to draw: every control
// character (an escape sequence could move the cursor or retitle the
// terminal) becomes a space, but newlines where keepNewlines. The
// directory refuses such text already; the UI does not rely on it.
func printable(s string, keepNewlines bool) string {
	if strings.IndexFunc(s, unicode.IsControl) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n' && keepNewlines:
			return r
		case unicode.IsControl(r):
			return ' '
		}
		return r
	}, s)
}

// printableContact is c with its text fields made printable.
func printableContact(c directory.Contact) directory.Contact {
	c.User = printable(c.User, false)
	c.Status = printable(c.Status, false) // shown as a word when it is none Parley knows
	c.Note = printable(c.Note, false)
	c.Message = printable(c.Message, false)
	return c
}

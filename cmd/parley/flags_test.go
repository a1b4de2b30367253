package main

import (
	"flag"
	"io"
	"slices"
	"testing"
)

func TestParseInterleaved(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantPos  []string
		wantUser string
	}{
		{"flags-first", []string{"--user", "alice", "bob"}, []string{"bob"}, "alice"},
		{"flags-after", []string{"bob", "--user", "alice"}, []string{"bob"}, "alice"},
		{"flags-around", []string{"--user", "x", "bob", "--user", "alice"}, []string{"bob"}, "alice"},
		{"double-dash", []string{"--user", "alice", "--", "--bob"}, []string{"--bob"}, "alice"},
		{"no-positional", []string{"--user", "alice"}, nil, "alice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			user := fs.String("user", "", "")
			pos, err := parseInterleaved(fs, tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(pos, tt.wantPos) || *user != tt.wantUser {
				t.Errorf("positional %q user %q, want %q %q", pos, *user, tt.wantPos, tt.wantUser)
			}
		})
	}
}

func TestNumberedRecording(t *testing.T) {
	tests := []struct {
		speaker string
		n       int
		want    string
	}{
		{"file:/tmp/heard.wav", 1, "file:/tmp/heard.wav"},
		{"file:/tmp/heard.wav", 2, "file:/tmp/heard-2.wav"},
		{"file:heard", 3, "file:heard-3"},
		{"null", 2, "null"},
		{"default", 5, "default"},
	}
	for _, tt := range tests {
		if got := numberedRecording(tt.speaker, tt.n); got != tt.want {
			t.Errorf("numberedRecording(%q, %d) = %q, want %q", tt.speaker, tt.n, got, tt.want)
		}
	}
}

package main

import "testing"

func TestGainFlag(t *testing.T) {
	tests := []struct {
		name, in string
		want     float64
		ok       bool
	}{
		{"zero", "0", 0, true},
		{"the-most", "20", 20, true},
		{"quieter", "-30.5", -30.5, true},
		{"above-the-most", "20.5", 0, false},
		{"not-a-number", "NaN", 0, false},
		{"no-number", "loud", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var db float64
			err := gainFlag{&db}.Set(tt.in)
			if (err == nil) != tt.ok || db != tt.want {
				t.Errorf("Set(%q) = %v, db %v; want ok %v, db %v", tt.in, err, db, tt.ok, tt.want)
			}
		})
	}
}

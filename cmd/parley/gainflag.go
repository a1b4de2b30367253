package main

import (
	"fmt"
	"strconv"

	"github.com/parley-voip/parley/media"
)

// gainFlag is a level in dB of at most media.MaxGainDB (--mic-gain,
// --speaker-volume): more is a usage error when the flags are parsed, not
// a failure once the audio opens.
type gainFlag struct{ db *float64 }

func (g gainFlag) String() string {
	if g.db == nil {
		return "0"
	}
	return strconv.FormatFloat(*g.db, 'g', -1, 64)
}

func (g gainFlag) Set(s string) error {
	db, err := strconv.ParseFloat(s, 64)
	if err != nil || !(db <= media.MaxGainDB) { // NaN too
		return fmt.Errorf("%q: want dB, at most +%d", s, media.MaxGainDB)
	}
	*g.db = db
	return nil
}

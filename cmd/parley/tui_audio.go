package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/parley-voip/parley/media"
)

// audioSettings reads the UI's sound settings from the config file: aec,
// ns and agc ("on", "off", "auto"; "" is auto), speaker_volume and
// mic_gain (dB).
func audioSettings(fc fileConfig) (media.AudioSettings, error) {
	a := media.AudioSettings{SpeakerVolumeDB: fc.SpeakerVolume, MicGainDB: fc.MicGain}
	for _, s := range []struct {
		name, value string
		sw          *media.Switch
	}{{"aec", fc.AEC, &a.AEC}, {"ns", fc.NS, &a.NS}, {"agc", fc.AGC, &a.AGC}} {
		if s.value == "" {
			continue
		}
		if err := s.sw.Set(s.value); err != nil {
			return a, fmt.Errorf("config.toml: %s: %w", s.name, err)
		}
	}
	for _, g := range []struct {
		name string
		db   float64
	}{{"speaker_volume", a.SpeakerVolumeDB}, {"mic_gain", a.MicGainDB}} {
		if !(g.db <= media.MaxGainDB) {
			return a, fmt.Errorf("config.toml: %s %g: want dB, at most +%d", g.name, g.db, media.MaxGainDB)
		}
	}
	return a, nil
}

// saveAudio keeps a in home's config.toml, leaving its other settings as
// they are.
func saveAudio(home string, a media.AudioSettings) error {
	path := filepath.Join(home, "config.toml")
	settings := map[string]any{}
	if _, err := toml.DecodeFile(path, &settings); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read %s: %w", path, err)
	}
	settings["aec"], settings["ns"], settings["agc"] = a.AEC.String(), a.NS.String(), a.AGC.String()
	settings["speaker_volume"], settings["mic_gain"] = a.SpeakerVolumeDB, a.MicGainDB
	var b strings.Builder
	if err := toml.NewEncoder(&b).Encode(settings); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// Written aside and renamed, so that a crash leaves the old file whole.
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

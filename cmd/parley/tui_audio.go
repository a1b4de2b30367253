package main

import (
	"errors"
	"flag"
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

// audioFlags registers the calling commands' sound flags (--aec, --ns,
// --agc, --speaker-volume, --mic-gain) on fs; over returns the settings
// with those given on the command line laid over them (flags win over the
// config file).
func audioFlags(fs *flag.FlagSet) (over func(media.AudioSettings) media.AudioSettings) {
	var m mediaOptions
	all := flag.NewFlagSet("", flag.ContinueOnError)
	m.register(all)
	for _, name := range []string{"aec", "ns", "agc", "speaker-volume", "mic-gain"} {
		f := all.Lookup(name)
		fs.Var(f.Value, name, f.Usage)
	}
	return func(a media.AudioSettings) media.AudioSettings {
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "aec":
				a.AEC = m.audio.AEC
			case "ns":
				a.NS = m.audio.NS
			case "agc":
				a.AGC = m.audio.AGC
			case "speaker-volume":
				a.SpeakerVolumeDB = m.audio.SpeakerVolumeDB
			case "mic-gain":
				a.MicGainDB = m.audio.MicGainDB
			}
		})
		return a
	}
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

package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley-voip/parley/media"
)

func TestSaveAudioKeepsTheOtherSettings(t *testing.T) {
	home := t.TempDir()
	path := filepath.Join(home, "config.toml")
	if err := os.WriteFile(path, []byte("directory = \"127.0.0.1:9\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := saveUser(home, "alice"); err != nil {
		t.Fatal(err)
	}
	want := media.AudioSettings{AEC: media.Off, NS: media.On, SpeakerVolumeDB: 6, MicGainDB: -3}
	if err := saveAudio(home, want); err != nil {
		t.Fatal(err)
	}
	o := clientOptions{home: home, logLevel: "warn"}
	fc, err := o.resolve()
	if err != nil {
		t.Fatal(err)
	}
	got, err := audioSettings(fc)
	if err != nil || got != want {
		t.Errorf("read back %+v (%v), want %+v", got, err, want)
	}
	if fc.User != "alice" || fc.Directory != "127.0.0.1:9" {
		t.Errorf("the other settings became user %q, directory %q", fc.User, fc.Directory)
	}
}

func TestAudioSettingsFromTheConfigFile(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fc      fileConfig
		want    media.AudioSettings
		wantErr string
	}{
		{name: "none-is-the-default"},
		{name: "switches-and-levels", fc: fileConfig{AEC: "on", NS: "off", AGC: "auto", SpeakerVolume: -6, MicGain: 20},
			want: media.AudioSettings{AEC: media.On, NS: media.Off, SpeakerVolumeDB: -6, MicGainDB: 20}},
		{name: "bad-switch", fc: fileConfig{NS: "yes"}, wantErr: `config.toml: ns: "yes": want on, off or auto`},
		{name: "too-loud", fc: fileConfig{SpeakerVolume: 21}, wantErr: "config.toml: speaker_volume 21: want dB, at most +20"},
		{name: "too-much-gain", fc: fileConfig{MicGain: 40}, wantErr: "config.toml: mic_gain 40"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := audioSettings(tc.fc)
			switch {
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("error %v, want %q", err, tc.wantErr)
			case tc.wantErr == "" && (err != nil || got != tc.want):
				t.Errorf("got %+v (%v), want %+v", got, err, tc.want)
			}
		})
	}
}

func TestAudioFlagsWinOverTheConfigFile(t *testing.T) {
	file := media.AudioSettings{AEC: media.Off, NS: media.On, SpeakerVolumeDB: 6, MicGainDB: -3}
	for _, tc := range []struct {
		name string
		args []string
		want media.AudioSettings
	}{
		{name: "none-keeps-the-file", want: file},
		{name: "some-replace-theirs", args: []string{"--aec", "auto", "--mic-gain", "4"},
			want: media.AudioSettings{AEC: media.Auto, NS: media.On, SpeakerVolumeDB: 6, MicGainDB: 4}},
		{name: "all", args: []string{"--aec", "on", "--ns", "off", "--agc", "on", "--speaker-volume", "-10", "--mic-gain", "0"},
			want: media.AudioSettings{AEC: media.On, NS: media.Off, AGC: media.On, SpeakerVolumeDB: -10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFlagSet("ui", "", io.Discard)
			over := audioFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			if got := over(file); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

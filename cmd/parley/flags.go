package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/parley-voip/parley/directory"
	"github.com/parley-voip/parley/nat"
)

// defaultDirectory is where clients look for a directory when nothing says
// otherwise, and where 'parley directory' listens by default.
const defaultDirectory = "127.0.0.1:8478"

// clientOptions are the flags every client subcommand shares (DESIGN §6).
// Precedence: flags > environment (PARLEY_*) > $PARLEY_HOME/config.toml.
type clientOptions struct {
	home      string
	directory string
	user      string
	logLevel  string
	ice       nat.ICEConfig
	// session holds the directory session's settings other than URL, user
	// and key (who may call, control sessions); subcommands set them.
	session directory.ClientConfig
	// relay volunteers a relay (--relay) where a subcommand registers its
	// flags; off otherwise.
	relay relayOptions
}

// fileConfig is $PARLEY_HOME/config.toml.
type fileConfig struct {
	User      string `toml:"user"`
	Directory string `toml:"directory"`
	Mic       string `toml:"mic"`
	Speaker   string `toml:"speaker"`
	// The UI's sound settings (tui_audio.go), which it keeps here.
	AEC           string  `toml:"aec"`
	NS            string  `toml:"ns"`
	AGC           string  `toml:"agc"`
	SpeakerVolume float64 `toml:"speaker_volume"`
	MicGain       float64 `toml:"mic_gain"`
}

func (o *clientOptions) register(fs *flag.FlagSet) {
	o.registerHome(fs)
	fs.StringVar(&o.directory, "directory", "", "directory URL: http[s]://, ws[s]:// or host:port (env PARLEY_DIRECTORY; default "+defaultDirectory+")")
	fs.StringVar(&o.user, "user", "", "your username (env PARLEY_USER)")
	fs.StringVar(&o.logLevel, "log-level", "warn", "log detail on stderr: debug, info, warn or error")
	fs.Func("ice-server", "a STUN or TURN server URL, e.g. turn:host:3478?transport=udp (repeatable)", func(v string) error {
		o.ice.Servers = append(o.ice.Servers, nat.ICEServer{URL: v})
		return nil
	})
	fs.Func("ice-username", "TURN username for the --ice-server before it", func(v string) error {
		return o.lastICEServer(func(s *nat.ICEServer) { s.Username = v })
	})
	fs.Func("ice-credential", "TURN password for the --ice-server before it", func(v string) error {
		return o.lastICEServer(func(s *nat.ICEServer) { s.Credential = v })
	})
	fs.BoolVar(&o.ice.RelayOnly, "relay-only", false, "send every call through a TURN relay")
}

// registerHome registers --home alone, for the commands that only read
// the user's files there (history, verify).
func (o *clientOptions) registerHome(fs *flag.FlagSet) {
	fs.StringVar(&o.home, "home", "", "Parley's home directory: identity, config.toml (env PARLEY_HOME; default ~/.parley)")
}

func (o *clientOptions) lastICEServer(set func(*nat.ICEServer)) error {
	if len(o.ice.Servers) == 0 {
		return errors.New("give --ice-server first")
	}
	set(&o.ice.Servers[len(o.ice.Servers)-1])
	return nil
}

// resolve fills what the flags left empty from the environment and the
// config file, and returns the config file for subcommand-specific values.
func (o *clientOptions) resolve() (fileConfig, error) {
	if err := o.resolveHome(); err != nil {
		return fileConfig{}, err
	}
	var fc fileConfig
	path := filepath.Join(o.home, "config.toml")
	if _, err := toml.DecodeFile(path, &fc); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fileConfig{}, fmt.Errorf("read %s: %w", path, err)
	}
	o.directory = firstNonEmpty(o.directory, os.Getenv("PARLEY_DIRECTORY"), fc.Directory, defaultDirectory)
	o.user = firstNonEmpty(o.user, os.Getenv("PARLEY_USER"), fc.User)
	if o.user != "" {
		if err := checkUsername("--user", o.user); err != nil {
			return fileConfig{}, err
		}
	}
	if err := o.ice.Validate(); err != nil {
		return fileConfig{}, badUsage("%v", err)
	}
	if _, err := newLogger(o.logLevel); err != nil {
		return fileConfig{}, badUsage("%v", err)
	}
	return fc, nil
}

// resolveHome fills the home directory from the environment if --home
// left it empty, or else picks ~/.parley.
func (o *clientOptions) resolveHome() error {
	o.home = firstNonEmpty(o.home, os.Getenv("PARLEY_HOME"))
	if o.home == "" {
		dir, err := os.UserHomeDir()
		if err != nil {
			return fmt.Errorf("no --home given and no home directory: %w", err)
		}
		o.home = filepath.Join(dir, ".parley")
	}
	return nil
}

func (o *clientOptions) logger() (*slog.Logger, error) {
	return newLogger(o.logLevel)
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// parseInterleaved parses args with fs, letting flags come before or after
// positional arguments (DESIGN §6), and returns the positional ones. After
// "--" everything is positional.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// newFlagSet makes a subcommand's flag set whose errors print usage and
// come back as errUsage.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: parley %s\n\nflags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// checkUsername is the usage error for a name that is not a username;
// where says where it was given ("call", "--user").
func checkUsername(where, name string) error {
	if directory.ValidUsername(name) {
		return nil
	}
	return badUsage("%s %q: not a username (3-32 of a-z 0-9 . _ -, starting with a letter or digit)", where, name)
}

// parseFlags parses a subcommand's command line (parseInterleaved) and
// returns its positional arguments, or errHelp or errUsage.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil, errHelp
	}
	if err != nil {
		return nil, errUsage // the flag package has printed what is wrong
	}
	return pos, nil
}

// parseArgs parses a subcommand's command line and checks how many
// positional arguments it has.
func parseArgs(fs *flag.FlagSet, args []string, wantPositional int) ([]string, error) {
	pos, err := parseFlags(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) != wantPositional {
		if wantPositional == 0 {
			fmt.Fprintf(fs.Output(), "unexpected argument %q\n", strings.Join(pos, " "))
		} else {
			fmt.Fprintf(fs.Output(), "want %d argument(s), got %d\n", wantPositional, len(pos))
		}
		fs.Usage()
		return nil, errUsage
	}
	return pos, nil
}

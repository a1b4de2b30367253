package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/parley-voip/parley/call"
	"github.com/parley-voip/parley/directory"
	"github.com/parley-voip/parley/directory/identity"
	"github.com/parley-voip/parley/media"
)

// dialTimeout bounds connecting and logging in to the directory.
const dialTimeout = 10 * time.Second

// mediaOptions are the audio flags of the calling subcommands.
type mediaOptions struct {
	mic      string
	micLoop  bool
	speaker  string
	statsOut string
	frame    frameFlag
	audio    media.AudioSettings
}

func (m *mediaOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&m.mic, "mic", "", "microphone: default, device:NAME, file:PATH.wav, tone:HZ or silence")
	fs.BoolVar(&m.micLoop, "mic-loop", false, "repeat a file: microphone instead of going silent after it")
	fs.StringVar(&m.speaker, "speaker", "", "speaker: default, device:NAME, file:PATH.wav or null")
	fs.StringVar(&m.statsOut, "stats", "", "append each call's stats as a JSON line to this file")
	fs.Var(&m.frame, "frame", "audio frame sent: 10ms, 20ms or 40ms")
	fs.Var(&m.audio.AEC, "aec", "echo cancellation: on, off or auto (auto: on for a sound device's microphone)")
	fs.Var(&m.audio.NS, "ns", "noise suppression: on, off or auto")
	fs.Var(&m.audio.AGC, "agc", "automatic gain control: on, off or auto")
	fs.Var(gainFlag{&m.audio.SpeakerVolumeDB}, "speaker-volume", "speaker volume in dB: 0 as is, at most +20")
	fs.Var(gainFlag{&m.audio.MicGainDB}, "mic-gain", "microphone gain in dB: 0 as is, at most +20")
}

// config returns the call package's media settings, the config file
// filling what the flags left empty.
func (m *mediaOptions) config(fc fileConfig) call.MediaConfig {
	return call.MediaConfig{
		Mic:     firstNonEmpty(m.mic, fc.Mic),
		MicLoop: m.micLoop,
		Speaker: firstNonEmpty(m.speaker, fc.Speaker),
		Audio:   m.audio,

		FrameSamples: m.frame.samples(),
	}
}

// writeStats appends one call's stats (a call.Stats, or a conference's
// call.ParticipantResult) to the --stats file, if any.
func (m *mediaOptions) writeStats(st any) error {
	if m.statsOut == "" {
		return nil
	}
	line, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("stats: %w", err)
	}
	f, err := os.OpenFile(m.statsOut, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("stats: %w", err)
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("stats: %w", err)
	}
	return f.Close()
}

// connect loads (or on first use creates) the user's identity and logs in
// to the directory.
func connect(ctx context.Context, o *clientOptions, log *slog.Logger) (*directory.Client, error) {
	if o.user == "" {
		return nil, errors.New("no username: give --user NAME (or set PARLEY_USER, or user in config.toml)")
	}
	id, err := identity.LoadOrCreate(o.home)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	cfg := o.session
	cfg.URL, cfg.User, cfg.Identity, cfg.Logger = o.directory, o.user, id, log
	client, err := directory.Dial(ctx, cfg)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("directory %s did not answer within %v: %w", o.directory, dialTimeout, directory.ErrUnreachable)
	}
	return client, err
}

// startPhone logs in and starts a phone configured by cfg (its Directory
// and Logger are filled in); the caller closes the returned phone and then
// the client.
func startPhone(ctx context.Context, o *clientOptions, cfg call.PhoneConfig) (*call.Phone, *directory.Client, error) {
	log, err := o.logger()
	if err != nil {
		return nil, nil, err
	}
	o.session.Reconnect = true // a phone outlives a directory restart or failover
	client, err := connect(ctx, o, log)
	if err != nil {
		return nil, nil, err
	}
	cfg.Directory, cfg.Logger, cfg.ICE = client, log, o.ice
	// The key the directory login proved signs the calls; the home keeps
	// the peers' pinned keys and the call history.
	if cfg.Identity, err = identity.Load(o.home); err != nil {
		client.Close()
		return nil, nil, fmt.Errorf("identity: %w", err)
	}
	cfg.Home = o.home
	if len(o.ice.Servers) == 0 { // --ice-server replaces the directory's
		cfg.ICE.Source = relaySource(ctx, client, o.ice.RelayOnly, log)
	}
	phone, err := call.NewPhone(cfg)
	if err != nil {
		client.Close()
		return nil, nil, err
	}
	return phone, client, nil
}

func runCall(ctx context.Context, args []string) error {
	if adds, rest := extractAdds(args); len(adds) > 0 {
		return runConference(ctx, append(rest, adds...)) // 'call bob --add carol' hosts a conference
	}
	var (
		o           clientOptions
		m           mediaOptions
		duration    time.Duration
		ringTimeout time.Duration
	)
	fs := newFlagSet("call", "call NAME [--add NAME]... [flags]", os.Stderr)
	o.register(fs)
	m.register(fs)
	fs.DurationVar(&duration, "duration", 0, "hang up this long after the call connects (0: when the peer hangs up or on Ctrl-C)")
	fs.DurationVar(&ringTimeout, "ring-timeout", 30*time.Second, "give up if nobody answers within this")
	events := fs.Bool("events", false, "print the call's events as JSON lines on stdout")
	pos, err := parseArgs(fs, args, 1)
	if err != nil {
		return err
	}
	peer := pos[0]
	if err := checkUsername("call", peer); err != nil {
		return err
	}
	switch {
	case duration < 0, ringTimeout <= 0:
		return badUsage("--duration must be 0 or more and --ring-timeout more than 0")
	}
	fc, err := o.resolve()
	if err != nil {
		return err
	}
	start := time.Now()
	relay := &chatRelay{print: onEvent(*events)} // for 'add NAME'
	phone, client, err := startPhone(ctx, &o, call.PhoneConfig{
		Media:          m.config(fc),
		RingTimeout:    ringTimeout,
		RefuseIncoming: true, // nobody is there to answer
		OnEvent:        relay.onEvent,
	})
	if err != nil {
		return err
	}
	defer client.Close()
	defer phone.Close()
	log, _ := o.logger() // checked by resolve
	defer showChats(ctx, client, *events, log)()
	reportMissed(o.home, *events)

	c, err := phone.Dial(ctx, peer, call.DialOptions{Duration: duration})
	if err != nil {
		if serr := m.writeStats(call.DialFailure(peer, start, err)); serr != nil {
			return serr
		}
		return fmt.Errorf("call %s: %w", peer, err)
	}
	commands := readCommands(ctx, os.Stdin)
	if first := awaitCall(ctx, c, commands); first != "" {
		conf := &conferenceOptions{o: o, m: m, ringTimeout: ringTimeout, events: *events}
		return hostFromCall(ctx, conf, phone, relay, c, first, m.config(fc), commands)
	}
	return reportCall(c, &m)
}

// reportCall records an ended call's stats and reports how it went.
func reportCall(c *call.Call, m *mediaOptions) error {
	st, callErr := c.Result()
	if err := m.writeStats(st); err != nil {
		return err
	}
	if callErr != nil {
		return fmt.Errorf("call with %s: %w", c.Peer(), callErr)
	}
	fmt.Printf("call with %s ended (%s) after %.1f s: %s path, %s/%s candidates, setup %.0f ms\n",
		c.Peer(), st.EndReason, st.DurationS, st.Path, st.LocalCandidateType, st.RemoteCandidateType, st.SetupMS)
	return nil
}

func runAnswer(ctx context.Context, args []string) error {
	var (
		o     clientOptions
		m     mediaOptions
		calls int
	)
	fs := newFlagSet("answer", "answer [flags]", os.Stderr)
	o.register(fs)
	m.register(fs)
	o.relay.register(fs)
	fs.IntVar(&calls, "calls", 0, "answer this many calls, then exit (0: until interrupted)")
	events := fs.Bool("events", false, "print call events as JSON lines on stdout")
	callWaiting := fs.Bool("call-waiting", false, "let a second call ring during a call ('answer' on stdin takes it, holding the first) instead of answering it busy")
	fs.StringVar(&o.session.CallsFrom, "accept-calls-from", directory.CallsFromContacts, "who may call you and see your presence: contacts or anyone")
	if _, err := parseArgs(fs, args, 0); err != nil {
		return err
	}
	if calls < 0 {
		return badUsage("--calls must be 0 or more")
	}
	if err := o.relay.validate(); err != nil {
		return err
	}
	if from := o.session.CallsFrom; from != directory.CallsFromContacts && from != directory.CallsFromAnyone {
		return badUsage("--accept-calls-from %q: want contacts or anyone", from)
	}
	fc, err := o.resolve()
	if err != nil {
		return err
	}
	media := m.config(fc)
	relay := &chatRelay{print: onEvent(*events)} // for 'add NAME'
	phone, client, err := startPhone(ctx, &o, call.PhoneConfig{Media: media, CallWaiting: *callWaiting, OnEvent: relay.onEvent})
	if err != nil {
		return err
	}
	defer client.Close()
	defer phone.Close()
	log, _ := o.logger() // checked by resolve
	defer showChats(ctx, client, *events, log)()
	stopRelay, err := o.relay.start(ctx, client, o.directory, log)
	if err != nil {
		return err
	}
	defer stopRelay()
	reportMissed(o.home, *events)
	fmt.Printf("%s is waiting for calls\n", o.user)
	host := &conferenceOptions{o: o, m: m, events: *events}
	return answerCalls(ctx, phone, client, media, calls, &m, host, relay, readCommands(ctx, os.Stdin))
}

// numberedRecording keeps every call's recording when 'parley answer'
// takes several: call 1 records to file:x.wav, call 2 to file:x-2.wav, and
// so on. Other speakers are the same for every call.
func numberedRecording(speaker string, n int) string {
	path, isFile := strings.CutPrefix(speaker, "file:")
	if !isFile || n == 1 {
		return speaker
	}
	ext := filepath.Ext(path)
	return fmt.Sprintf("file:%s-%d%s", strings.TrimSuffix(path, ext), n, ext)
}

// echoMaxCalls is how many callers the echo service serves at once.
const echoMaxCalls = 16

func runEcho(ctx context.Context, args []string) error {
	var o clientOptions
	fs := newFlagSet("echo", "echo [flags]", os.Stderr)
	o.register(fs)
	o.relay.register(fs)
	if _, err := parseArgs(fs, args, 0); err != nil {
		return err
	}
	if err := o.relay.validate(); err != nil {
		return err
	}
	// The service is "echo" unless --user says otherwise: a PARLEY_USER or
	// config.toml meant for the person at this machine must not make the
	// echo service log in as them and take over their session.
	o.user = firstNonEmpty(o.user, "echo")
	if _, err := o.resolve(); err != nil {
		return err
	}
	return serveEcho(ctx, &o, func() { fmt.Printf("echo service is up as %q on %s\n", o.user, o.directory) })
}

// serveEcho runs the echo service as o.user until ctx ends; up is called
// once it has logged in.
func serveEcho(ctx context.Context, o *clientOptions, up func()) error {
	// Like Skype's sound test: anyone may call it, and it accepts every
	// contact request.
	o.session.CallsFrom, o.session.AutoAccept = directory.CallsFromAnyone, true
	phone, client, err := startPhone(ctx, o, call.PhoneConfig{Media: call.MediaConfig{Echo: true}, MaxCalls: echoMaxCalls})
	if err != nil {
		return err
	}
	defer client.Close()
	defer phone.Close()
	log, _ := o.logger() // checked by resolve
	stopRelay, err := o.relay.start(ctx, client, o.directory, log)
	if err != nil {
		return err
	}
	defer stopRelay()
	up()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-client.Done():
			return fmt.Errorf("directory connection lost: %w", client.Err())
		case c := <-phone.Incoming():
			c.Answer()
		}
	}
}

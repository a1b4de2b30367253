package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/parley-voip/parley/call"
	"github.com/parley-voip/parley/directory"
	"github.com/parley-voip/parley/directory/identity"
	"github.com/parley-voip/parley/media"
	"github.com/parley-voip/parley/nat"
	"github.com/parley-voip/parley/ui"
)

// logFile is where the UI's logs go, in $PARLEY_HOME: the terminal is the
// UI's.
const logFile = "parley.log"

// runUI is 'parley' without a subcommand: the terminal UI (DESIGN §7).
func runUI(ctx context.Context, args []string) error {
	var (
		o            clientOptions
		mic, speaker string
		relay        relayOptions
	)
	fs := newFlagSet("ui", "[ui] [flags]", os.Stderr)
	o.register(fs)
	// Where the UI differs from the headless commands.
	fs.Lookup("directory").Usage = "directory URL: http[s]://, ws[s]:// or host:port (env PARLEY_DIRECTORY; default: run one in-process with a supernode and the echo service)"
	fs.Lookup("log-level").Usage = "log detail in $PARLEY_HOME/" + logFile + ": debug, info, warn or error"
	relay.register(fs)
	fs.StringVar(&mic, "mic", "", "microphone: default, device:NAME, file:PATH.wav, tone:HZ or silence")
	fs.StringVar(&speaker, "speaker", "", "speaker: default, device:NAME, file:PATH.wav or null")
	audioOver := audioFlags(fs)
	if _, err := parseArgs(fs, args, 0); err != nil {
		return err
	}
	if err := relay.validate(); err != nil {
		return err
	}
	configured := o.directory != "" || os.Getenv("PARLEY_DIRECTORY") != ""
	fc, err := o.resolve()
	if err != nil {
		return err
	}
	configured = configured || fc.Directory != ""
	settings, err := audioSettings(fc)
	if err != nil {
		return badUsage("%v", err)
	}
	settings = audioOver(settings)
	if err := os.MkdirAll(o.home, 0o700); err != nil {
		return fmt.Errorf("home: %w", err)
	}
	tty, restore, err := outputTo(filepath.Join(o.home, logFile))
	if err != nil {
		return err
	}
	defer restore()
	log, err := o.logger()
	if err != nil {
		return err
	}

	if !configured {
		emb, err := startEmbedded(ctx, o.home, o.logLevel, log)
		if err != nil {
			return err
		}
		defer emb.close()
		o.directory = emb.url // which hands out the embedded supernode
	}
	audio, banner := chooseAudio(call.MediaConfig{Mic: firstNonEmpty(mic, fc.Mic), Speaker: firstNonEmpty(speaker, fc.Speaker), Audio: settings})

	welcome := ""
	if !configured {
		welcome = "Enter on echo (or :call echo) calls the echo service: you hear yourself."
	}
	var sessions sessionSet
	defer sessions.close()
	firstRun := o.user == ""
	model := ui.New(ui.Config{
		User:        o.user,
		Directory:   o.directory,
		Banner:      banner,
		Welcome:     welcome,
		CallWaiting: true, // as the phone's: a second call rings; answering it holds the first
		Mic:         audio.Mic,
		Speaker:     audio.Speaker,
		Audio:       audio.Audio,
		SaveAudio:   func(a media.AudioSettings) error { return saveAudio(o.home, a) },
		Devices:     media.Devices,
		RelayOn:     relay.on,
		Relay: func(on bool) error {
			s := sessions.last()
			if s == nil {
				return errors.New("not logged in")
			}
			return s.relay(ctx, relay, on, o.directory, log)
		},
		Start: func(sctx context.Context, user string) (ui.Backend, error) {
			uo := o // each attempt (a name taken, say) starts afresh
			uo.user = user
			s, err := startSession(sctx, &uo, audio, !configured)
			if err != nil {
				return nil, err
			}
			sessions.add(s)
			if err := s.relay(ctx, relay, relay.on, o.directory, log); err != nil {
				log.Warn("volunteer relay", "err", err)
			}
			if firstRun {
				if err := saveUser(o.home, user); err != nil {
					log.Warn("could not remember the name", "err", err)
				}
			}
			return s.ui, nil
		},
	})
	_, err = tea.NewProgram(model, tea.WithContext(ctx), tea.WithOutput(tty)).Run()
	if errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
		return nil // interrupted: Ctrl-C went to the process, not the UI
	}
	return err
}

// outputTo sends everything written to standard output and error to a
// file instead of the UI's screen, until restore: this process's logs,
// what the headless code it reuses prints, and what C libraries write
// (ALSA's complaints on a machine without a sound card). The UI draws on
// tty, the terminal that standard output was.
func outputTo(path string) (tty *os.File, restore func(), err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("log file: %w", err)
	}
	defer f.Close()      // fds 1 and 2 keep it open
	var saved []*os.File // the original stdout and stderr
	restore = func() {
		for i, s := range saved {
			syscall.Dup3(int(s.Fd()), i+1, 0)
			s.Close()
		}
	}
	for _, fd := range []int{1, 2} {
		s, err := syscall.Dup(fd)
		if err != nil {
			restore()
			return nil, nil, fmt.Errorf("log file: %w", err)
		}
		saved = append(saved, os.NewFile(uintptr(s), fmt.Sprintf("/dev/fd/%d", fd)))
		if err := syscall.Dup3(int(f.Fd()), fd, 0); err != nil {
			restore()
			return nil, nil, fmt.Errorf("log file: %w", err)
		}
	}
	return saved[0], restore, nil
}

// chooseAudio keeps the devices asked for, except that on a machine
// without a sound card a default microphone becomes a tone and a default
// speaker a null one, and the banner says so.
func chooseAudio(m call.MediaConfig) (call.MediaConfig, string) {
	devices, err := media.Devices()
	hasIn := slices.ContainsFunc(devices, func(d media.DeviceInfo) bool { return d.InputChannels > 0 })
	hasOut := slices.ContainsFunc(devices, func(d media.DeviceInfo) bool { return d.OutputChannels > 0 })
	var missing []string
	if (m.Mic == "" || m.Mic == "default") && (err != nil || !hasIn) {
		m.Mic, missing = "tone:440", append(missing, "mic: a 440 Hz tone")
	}
	if (m.Speaker == "" || m.Speaker == "default") && (err != nil || !hasOut) {
		m.Speaker, missing = "null", append(missing, "speaker: none")
	}
	if len(missing) == 0 {
		return m, ""
	}
	return m, fmt.Sprintf("No sound card found. Calls run with %s.", joinAnd(missing))
}

func joinAnd(s []string) string {
	if len(s) == 2 {
		return s[0] + "; " + s[1]
	}
	return s[0]
}

// uiSession is one login of the UI's user and what it runs.
type uiSession struct {
	ui     *ui.Session
	phone  *call.Phone
	client *directory.Client

	// mu guards stopRelay, which stops the volunteer relay if one runs.
	mu        sync.Mutex
	stopRelay func()
}

// relay starts or stops volunteering as a relay (r's settings) through
// this session; ctx bounds the relay's life.
func (s *uiSession) relay(ctx context.Context, r relayOptions, on bool, dirURL string, log *slog.Logger) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case on == (s.stopRelay != nil):
		return nil
	case !on:
		s.stopRelay()
		s.stopRelay = nil
		return nil
	}
	r.on = true
	stop, err := r.start(ctx, s.client, dirURL, log)
	if err != nil {
		return err
	}
	s.stopRelay = stop
	return nil
}

func (s *uiSession) close() {
	s.relay(context.Background(), relayOptions{}, false, "", nil)
	s.ui.Close()
	s.phone.Close()
	s.client.Close()
}

// sessionSet holds the sessions the UI started, to close when it ends;
// the UI starts them off its own goroutine.
type sessionSet struct {
	mu   sync.Mutex
	list []*uiSession
}

func (ss *sessionSet) add(s *uiSession) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.list = append(ss.list, s)
}

// last returns the session started last, nil before any.
func (ss *sessionSet) last() *uiSession {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.list) == 0 {
		return nil
	}
	return ss.list[len(ss.list)-1]
}

func (ss *sessionSet) close() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for _, s := range ss.list {
		s.close()
	}
}

// startSession logs o.user in (creating their key on first use) with a
// phone; with the embedded services, echo becomes a contact.
func startSession(ctx context.Context, o *clientOptions, m call.MediaConfig, embedded bool) (*uiSession, error) {
	id, err := identity.LoadOrCreate(o.home)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	// The session, made after the phone, takes the calls' chat.
	var session atomic.Pointer[ui.Session]
	onEvent := func(ev call.Event) {
		if s := session.Load(); s != nil {
			s.CallEvent(ev)
		}
	}
	phone, client, err := startPhone(ctx, o, call.PhoneConfig{Media: m, Identity: id, Home: o.home, CallWaiting: true, OnEvent: onEvent})
	if err != nil {
		return nil, err
	}
	log, _ := o.logger() // checked by resolve
	s := &uiSession{phone: phone, client: client, ui: ui.NewSession(ui.SessionConfig{
		Client: client, Phone: phone, Media: m, Home: o.home, Identity: id, Logger: log})}
	session.Store(s.ui)
	if embedded {
		if err := befriendEcho(ctx, client); err != nil {
			s.close()
			return nil, err
		}
	}
	return s, nil
}

// befriendEcho asks the echo service to be a contact, which it accepts at
// once, unless it is one already.
func befriendEcho(ctx context.Context, client *directory.Client) error {
	list, err := client.Contacts(ctx)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(list, func(c directory.Contact) bool { return c.User == "echo" }) {
		return nil
	}
	return client.Contact(ctx, directory.ContactAdd, "echo", "")
}

// saveUser records the name chosen on the first run in config.toml, so
// that the next run logs in at once.
func saveUser(home, user string) error {
	f, err := os.OpenFile(filepath.Join(home, "config.toml"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(f, "\nuser = %q\n", user); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// embedded is what 'parley' runs in-process when no directory is
// configured: a directory, a supernode and the echo service, on loopback.
type embedded struct {
	url     string
	state   *directory.NATS
	srv     *directory.Server
	httpSrv *http.Server
	sn      *nat.Supernode
	stop    context.CancelFunc // the echo service and the supernode's heartbeats
	wg      sync.WaitGroup
}

// embeddedPort is where the embedded directory listens when the port is
// free, so that other clients on the machine find it as they find any
// local directory; otherwise on any free port.
const embeddedPort = "127.0.0.1:8478"

func startEmbedded(ctx context.Context, home, logLevel string, log *slog.Logger) (_ *embedded, err error) {
	ctx, stop := context.WithCancel(ctx)
	e := &embedded{stop: stop}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	// The directory keeps its accounts under home, so that the name the
	// user picked stays bound to their key across runs.
	if e.state, err = directory.ConnectNATS(directory.NATSConfig{DataDir: filepath.Join(home, "directory"), Logger: log}); err != nil {
		return nil, err
	}
	token := rand.Text() // for the supernode below, and no other
	if e.srv, err = directory.NewServer(directory.ServerConfig{NATS: e.state, Logger: log,
		Relays: directory.RelayConfig{SupernodeToken: token}}); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", embeddedPort)
	if err != nil {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("embedded directory: %w", err)
		}
	}
	e.url = ln.Addr().String()
	e.httpSrv = &http.Server{Handler: e.srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		if err := e.httpSrv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("embedded directory", "err", err)
		}
	}()

	// The supernode registers as an operator's would, so that the
	// directory hands clients its servers with fresh credentials.
	loopback := netip.MustParseAddr("127.0.0.1")
	secret := rand.Text()
	e.sn, err = nat.NewSupernode(nat.SupernodeConfig{
		Listen:     "127.0.0.1:0",
		PublicIP:   loopback,
		AuthSecret: secret,
		AllowPeers: []netip.Prefix{netip.PrefixFrom(loopback, 8)},
		Logger:     log,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded supernode: %w", err)
	}
	reg := directory.SupernodeRegistration{URLs: supernodeURLs(e.sn, loopback), Secret: secret}
	reg.ID = supernodeID(reg.URLs[0])
	r, err := directory.NewSupernodeRegistrar(directory.SupernodeRegistrarConfig{
		Directory: e.url, Token: token, Registration: reg, Load: e.sn.Allocations, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("embedded supernode: %w", err)
	}
	if err := r.Register(ctx); err != nil {
		return nil, fmt.Errorf("embedded supernode: %w", err)
	}
	e.wg.Go(func() { r.Run(ctx) })

	eo := clientOptions{home: filepath.Join(home, "echo"), directory: e.url, user: "echo", logLevel: logLevel}
	up := make(chan error, 1)
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		err := serveEcho(ctx, &eo, func() { up <- nil })
		if err != nil {
			log.Error("embedded echo service", "err", err)
		}
		up <- err
	}()
	if err := <-up; err != nil {
		return nil, fmt.Errorf("embedded echo service: %w", err)
	}
	return e, nil
}

func (e *embedded) close() {
	e.stop()
	if e.srv != nil {
		e.srv.Close()
	}
	if e.httpSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e.httpSrv.Shutdown(ctx)
	}
	e.wg.Wait()
	if e.sn != nil {
		e.sn.Close()
	}
	if e.state != nil {
		e.state.Close()
	}
}

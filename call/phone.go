package call

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/parley-voip/parley/directory"
	"github.com/parley-voip/parley/media"
	"github.com/parley-voip/parley/nat"
)

// Signaller is the part of a directory client a Phone uses.
type Signaller interface {
	User() string
	Lookup(ctx context.Context, user string) (directory.Presence, error)
	Send(ctx context.Context, s directory.Signal) error
	Signals() <-chan directory.Signal
	Done() <-chan struct{}
}

// MediaConfig says where a call's audio comes from and goes to.
type MediaConfig struct {
	Mic     string // media.OpenSource spec; "" → "default"
	MicLoop bool
	Speaker string              // media.OpenSink spec; "" → "default"
	Encoder media.EncoderConfig // DTX is always on
	// FrameSamples is the frame sent, in samples at 48 kHz: 480, 960 or
	// 1920 (10, 20, 40 ms); 0 → 20 ms. Playout follows the peer's frames.
	FrameSamples int
	// Echo makes calls play the peer's own audio straight back to it (the
	// echo service); Mic and Speaker are then unused.
	Echo bool
	// Source and Sink, when set, are used instead of opening Mic and
	// Speaker, and closed when the call ends: a conference's mixer ports.
	Source media.Source
	Sink   media.Sink
}

// PhoneConfig configures a Phone; the zero value of every field but
// Directory means its default.
type PhoneConfig struct {
	Directory Signaller
	ICE       nat.ICEConfig
	Media     MediaConfig
	// MaxCalls is how many calls may run at once; an offer beyond it is
	// answered "busy". 0 → 1.
	MaxCalls int
	// RefuseIncoming answers every offer "busy": for a phone that only
	// dials, such as 'parley call', which has nobody to ring.
	RefuseIncoming bool
	RingTimeout    time.Duration // 0 → 30 s
	Logger         *slog.Logger
}

func (c *PhoneConfig) validate() error {
	if c.Directory == nil {
		return errors.New("call: phone needs a directory")
	}
	if err := c.ICE.Validate(); err != nil {
		return fmt.Errorf("call: %w", err)
	}
	return nil
}

// Phone is one user's endpoint: it places and receives calls.
type Phone struct {
	cfg      PhoneConfig
	api      *webrtc.API
	log      *slog.Logger
	incoming chan *Call

	ctx    context.Context // ends when the phone closes
	cancel context.CancelFunc
	wg     sync.WaitGroup // the router and every call's actor

	// mu guards the following fields.
	mu     sync.Mutex
	calls  map[string]*Call // by call ID
	closed bool             // no call may start
}

// NewPhone starts a Phone listening for calls on cfg.Directory. Close
// stops it.
func NewPhone(cfg PhoneConfig) (*Phone, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.MaxCalls <= 0 {
		cfg.MaxCalls = 1
	}
	if cfg.RingTimeout <= 0 {
		cfg.RingTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	api, err := newAPI(cfg.ICE, cfg.Logger)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Phone{
		cfg:      cfg,
		api:      api,
		log:      cfg.Logger.With("user", cfg.Directory.User()),
		incoming: make(chan *Call, cfg.MaxCalls),
		ctx:      ctx,
		cancel:   cancel,
		calls:    make(map[string]*Call),
	}
	p.wg.Add(1)
	go p.routeLoop()
	return p, nil
}

// opusCodec is the only codec Parley speaks: Opus, 48 kHz, with in-band FEC
// (RFC 7587 §6.1).
var opusCodec = webrtc.RTPCodecCapability{
	MimeType:    webrtc.MimeTypeOpus,
	ClockRate:   media.SampleRate,
	Channels:    2, // RFC 7587 §7: always 2 in SDP, whatever is sent
	SDPFmtpLine: "minptime=10;useinbandfec=1",
}

func newAPI(ice nat.ICEConfig, log *slog.Logger) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: opusCodec, PayloadType: 111}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("call: register opus: %w", err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		return nil, fmt.Errorf("call: interceptors: %w", err)
	}
	se := webrtc.SettingEngine{LoggerFactory: pionLogs{log}}
	ice.Tune(&se)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// DialOptions shapes one outgoing call.
type DialOptions struct {
	// Duration hangs the call up this long after its media starts; 0 means
	// it runs until either side hangs up.
	Duration time.Duration
	// Media, when set, replaces the phone's devices for this call.
	Media *MediaConfig
}

// Dial calls peer. The call rings on; watch Done for its end. It fails at
// once when the peer cannot be called at all: ErrSelf, a device that will
// not open, ErrNoSuchUser, ErrOffline, ErrLineBusy or the directory's
// error. DialFailure turns such an error into the call's record.
func (p *Phone) Dial(ctx context.Context, peer string, opt DialOptions) (*Call, error) {
	start := time.Now()
	if peer == p.cfg.Directory.User() {
		return nil, ErrSelf
	}
	// Devices first: a missing microphone is the caller's problem, found
	// before the directory is asked anything or the peer's phone rings.
	m := p.cfg.Media
	if opt.Media != nil {
		m = *opt.Media
	}
	a, err := openAudio(m)
	if err != nil {
		return nil, err
	}
	if err := p.checkReachable(ctx, peer); err != nil {
		a.close()
		return nil, err
	}
	c, err := p.startCall(newCallID(), peer, Outgoing, nil, a, start, opt)
	if err != nil {
		a.close()
		return nil, err
	}
	return c, nil
}

// checkReachable asks the directory whether peer can be called now.
func (p *Phone) checkReachable(ctx context.Context, peer string) error {
	presence, err := p.cfg.Directory.Lookup(ctx, peer)
	switch {
	case errors.Is(err, directory.ErrNoSuchUser), err == nil && !presence.Exists:
		return ErrNoSuchUser
	case err != nil:
		return fmt.Errorf("look up %s: %w", peer, err)
	case presence.Status == directory.StatusOffline:
		return ErrOffline
	}
	return nil
}

// Incoming delivers calls that are ringing here; Answer or Reject each.
func (p *Phone) Incoming() <-chan *Call { return p.incoming }

// Close hangs up every call and stops the phone.
func (p *Phone) Close() error {
	p.mu.Lock()
	p.closed = true // under mu, so that no startCall adds to wg after Wait begins
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
	return nil
}

// startCall registers a call and starts its actor; offer is nil for an
// outgoing call, and a is nil for an incoming one (it opens its devices
// when answered).
func (p *Phone) startCall(id, peer string, dir Direction, offer *directory.Signal, a *audio, start time.Time, opt DialOptions) (*Call, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	if len(p.calls) >= p.cfg.MaxCalls {
		return nil, ErrLineBusy
	}
	c := newCall(p, id, peer, dir, start, opt)
	p.calls[id] = c
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		c.runLoop(p.ctx, offer, a)
		p.mu.Lock()
		delete(p.calls, id)
		p.mu.Unlock()
	}()
	return c, nil
}

// routeLoop hands each signal from the directory to its call, and turns
// new offers into ringing calls.
func (p *Phone) routeLoop() {
	defer p.wg.Done()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-p.cfg.Directory.Done():
			p.log.Warn("directory connection lost; calls in progress go on, new ones cannot be signalled")
			return
		case sig, ok := <-p.cfg.Directory.Signals():
			if !ok {
				return
			}
			p.route(sig)
		}
	}
}

func (p *Phone) route(sig directory.Signal) {
	p.mu.Lock()
	c := p.calls[sig.CallID]
	p.mu.Unlock()
	if c != nil {
		if sig.From != c.peer {
			p.log.Warn("dropping signal from a stranger to the call", "from", sig.From, "call", sig.CallID)
			return
		}
		c.post(sig)
		return
	}
	if sig.Kind != directory.SignalOffer {
		p.log.Debug("signal for no call", "kind", sig.Kind, "from", sig.From, "call", sig.CallID)
		return
	}
	if p.cfg.RefuseIncoming {
		p.sendDetached(directory.Signal{To: sig.From, CallID: sig.CallID, Kind: directory.SignalBusy})
		return
	}
	c, err := p.startCall(sig.CallID, sig.From, Incoming, &sig, nil, time.Now(), DialOptions{})
	if err != nil {
		p.log.Info("refusing call", "from", sig.From, "err", err)
		p.sendDetached(directory.Signal{To: sig.From, CallID: sig.CallID, Kind: directory.SignalBusy})
		return
	}
	select {
	case p.incoming <- c:
	default:
		// Nobody is taking calls faster than they arrive: the actor's
		// ring timeout ends it as missed.
	}
}

// sendDetached sends a signal that belongs to no call, without blocking
// the router.
func (p *Phone) sendDetached(sig directory.Signal) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		ctx, cancel := context.WithTimeout(p.ctx, signalTimeout)
		defer cancel()
		if err := p.cfg.Directory.Send(ctx, sig); err != nil {
			p.log.Debug("send signal", "kind", sig.Kind, "to", sig.To, "err", err)
		}
	}()
}

func newCallID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

package call

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/transport/v4"
	"github.com/pion/webrtc/v4"

	"github.com/parley-voip/parley/directory"
	"github.com/parley-voip/parley/directory/identity"
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
	// Audio is the processing and levels of Mic and Speaker: echo
	// cancellation, noise suppression, gain control, volume.
	Audio media.AudioSettings
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
	// CallWaiting lets one more call ring while MaxCalls are in progress,
	// instead of answering it "busy"; answering it holds the others.
	CallWaiting bool
	// Identity signs this user's offers and answers (DESIGN §2); nil → a
	// key made for this phone alone, which peers that pinned another key
	// for the user refuse.
	Identity *identity.Identity
	// Home is $PARLEY_HOME: peers' keys are pinned in PinsFile there and
	// every call is recorded in HistoryFile. "" → pins in memory, no
	// history.
	Home string
	// Net is the network the calls' ICE uses; nil → the host's. Tests
	// give a pion vnet to cut a path in the middle of a call.
	Net transport.Net
	// OnEvent, if set, is told of every change in every call (EventS and
	// states). It runs on the call's goroutine, so it must not block.
	OnEvent func(Event)
	Logger  *slog.Logger
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
	pins     *Pins
	// leg names this phone among its user's devices, all of which ring
	// for a call: the caller's accept names the one that answered.
	leg string

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
	if cfg.Identity == nil {
		_, key, err := ed25519.GenerateKey(nil)
		if err != nil {
			return nil, fmt.Errorf("call: make a key: %w", err)
		}
		cfg.Identity = &identity.Identity{Private: key}
	}
	lines := cfg.MaxCalls
	if cfg.CallWaiting {
		lines++
	}
	api, err := newAPI(cfg.ICE, cfg.Net, cfg.Logger)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Phone{
		cfg:      cfg,
		api:      api,
		log:      cfg.Logger.With("user", cfg.Directory.User()),
		incoming: make(chan *Call, lines),
		pins:     OpenPins(cfg.Home),
		leg:      newCallID()[:12],
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

func newAPI(ice nat.ICEConfig, net transport.Net, log *slog.Logger) (*webrtc.API, error) {
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
	if net != nil {
		se.SetNet(net)
	}
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
// error. DialFailure turns such an error into the call's record. Dialling
// a peer whose call rings here answers that call: the two want the same.
func (p *Phone) Dial(ctx context.Context, peer string, opt DialOptions) (*Call, error) {
	start := time.Now()
	if peer == p.cfg.Directory.User() {
		return nil, ErrSelf
	}
	m := p.cfg.Media
	if opt.Media != nil {
		m = *opt.Media
	}
	// Devices first: a missing microphone is the caller's problem, found
	// before the directory is asked anything or the peer's phone rings.
	a, err := openAudio(m)
	if err != nil {
		return nil, err
	}
	if err := p.checkReachable(ctx, peer); err != nil {
		a.close()
		if errors.Is(err, ErrOffline) {
			p.leaveMissedCall(ctx, peer)
		}
		return nil, err
	}
	c, err := p.startCall(newCallID(), peer, Outgoing, nil, nil, a, start, opt)
	if errors.Is(err, errRingingHere) {
		a.close()
		c.AnswerWith(m)
		return c, nil
	}
	if err != nil {
		a.close()
		return nil, err
	}
	return c, nil
}

// MissedCallNote is the text of the message a caller leaves, through the
// directory, for a contact who was offline: they read it at their next
// login.
const MissedCallNote = "(missed call: I called while you were offline)"

// noteTaker is the part of a directory client that keeps a message for a
// contact until they come online.
type noteTaker interface {
	SendChat(ctx context.Context, to, text string) error
}

// leaveMissedCall tells peer, who is offline, that we called. Only
// contacts take messages; the call has failed anyway, so a note that
// cannot be left is no error.
func (p *Phone) leaveMissedCall(ctx context.Context, peer string) {
	n, ok := p.cfg.Directory.(noteTaker)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, signalTimeout)
	defer cancel()
	if err := n.SendChat(ctx, peer, MissedCallNote); err != nil {
		p.log.Debug("leave a missed call", "peer", peer, "err", err)
	}
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

// SetMaxCalls changes how many calls may run at once (n ≥ 1): a call that
// becomes a conference makes room for its participants.
func (p *Phone) SetMaxCalls(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cfg.MaxCalls = max(n, 1)
}

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
// when answered). refusal, for an offer that did not verify, ends the
// call at once.
func (p *Phone) startCall(id, peer string, dir Direction, offer *directory.Signal, refusal error, a *audio, start time.Time, opt DialOptions) (*Call, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	if dir == Outgoing {
		if c := p.ringingFromLocked(peer); c != nil {
			return c, errRingingHere
		}
	}
	if refusal == nil && !p.lineFreeLocked(dir) {
		return nil, ErrLineBusy
	}
	c := newCall(p, id, peer, dir, start, opt)
	p.calls[id] = c
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		c.runLoop(p.ctx, offer, refusal, a)
		p.mu.Lock()
		delete(p.calls, c.ID())
		p.mu.Unlock()
	}()
	return c, nil
}

// lineFreeLocked reports whether a call of direction dir may start: while
// fewer than MaxCalls are up, and with call waiting one more incoming.
func (p *Phone) lineFreeLocked(dir Direction) bool {
	limit := p.cfg.MaxCalls
	if p.cfg.CallWaiting && dir == Incoming {
		limit++
	}
	up := 0
	for _, c := range p.calls {
		if c.Status().State != StateEnded { // one that is closing frees its line
			up++
		}
	}
	return up < limit
}

// errRingingHere: startCall found the peer's call to us ringing, and
// returns it to be answered instead.
var errRingingHere = errors.New("the peer's call rings here")

// ringingFromLocked returns the incoming call from peer that rings here, if
// any.
func (p *Phone) ringingFromLocked(peer string) *Call {
	for _, c := range p.calls {
		if c.peer == peer && c.direction == Incoming && c.Status().State == StateRinging {
			return c
		}
	}
	return nil
}

// holdOthers puts every call but c on hold, with call waiting: the user
// talks on c. (A phone of several calls without it, such as a conference's
// host, talks on all at once.)
func (p *Phone) holdOthers(c *Call) {
	if !p.cfg.CallWaiting {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, other := range p.calls {
		if other == c {
			continue
		}
		// Not on c's goroutine: two calls holding each other must not
		// wait on each other's actors.
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			other.Hold()
		}()
	}
}

// verifySDP checks a peer's signed offer or answer: signed by the key it
// carries, and that key the one pinned for the sender (pinned now if
// there is none).
func (p *Phone) verifySDP(sig directory.Signal) (sdpPayload, error) {
	payload, err := decodeSDP(sig, p.cfg.Directory.User())
	if err != nil {
		return payload, err
	}
	return payload, p.pins.check(sig.From, payload.Key)
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
	_, refusal := p.verifySDP(sig)
	if refusal == nil && p.glare(sig) {
		return
	}
	busy := directory.Signal{To: sig.From, CallID: sig.CallID, Kind: directory.SignalBusy}
	busy.Payload, _ = json.Marshal(legPayload{Leg: p.leg})
	if p.cfg.RefuseIncoming && refusal == nil {
		p.sendDetached(busy)
		return
	}
	c, err := p.startCall(sig.CallID, sig.From, Incoming, &sig, refusal, nil, time.Now(), DialOptions{})
	if err != nil {
		p.log.Info("refusing call", "from", sig.From, "err", err)
		p.sendDetached(busy)
		return
	}
	if refusal != nil {
		return // it ends at once, refused, without ringing
	}
	select {
	case p.incoming <- c:
	default:
		// Nobody is taking calls faster than they arrive: the actor's
		// ring timeout ends it as missed.
	}
}

// glare handles an offer from a peer we are calling ourselves, before
// either call is answered, and reports whether it did. Both sides keep the
// call with the smaller ID: if it is the peer's, our call takes it over
// (re-keyed here, so that the peer's signals reach it); if it is ours, the
// peer's offer is dropped, since the peer's phone takes ours over.
func (p *Phone) glare(offer directory.Signal) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, c := range p.calls {
		st := c.Status().State
		if c.peer != offer.From || c.direction != Outgoing || st != StateDialing && st != StateRinging {
			continue
		}
		if offer.CallID < id {
			delete(p.calls, id)
			p.calls[offer.CallID] = c
			c.id.Store(&offer.CallID)
			c.post(offer)
		}
		return true
	}
	return false
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

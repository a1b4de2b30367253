package call

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/parley-voip/parley/directory"
	"github.com/parley-voip/parley/media"
	"github.com/parley-voip/parley/media/mix"
)

// ConferenceConfig configures a conference hosted here; the zero value of
// every field but Phone means its default.
type ConferenceConfig struct {
	// Phone places and takes the participants' calls; its MaxCalls bounds
	// the conference's size.
	Phone *Phone
	// Media is the host's microphone and speaker (Source and Sink unused)
	// and the encoder and frame of every participant's call.
	Media MediaConfig
	// From, if set, is a two-party call of Phone's that becomes the
	// conference without a break: its peer is the first participant, and
	// its devices (not Media's) are the host's.
	From *Call
	// OnEvent, if set, hears of participants joining and leaving; it is
	// called from the conference's goroutines and must not block for long.
	OnEvent func(ConferenceEvent)
	Logger  *slog.Logger
}

// ConferenceEvent is a participant joining (its media started) or
// leaving, or one of the host's devices stopping and being replaced.
type ConferenceEvent struct {
	Kind    string // "joined", "left" or "device"
	Peer    string
	Result  *ParticipantResult // for "left"
	Message string             // for "device": which device, and what replaced it
}

// ParticipantResult is a participant's record: its call's stats, what went
// through its place in the mix, and, for a call that did not complete, why.
type ParticipantResult struct {
	Stats
	Mix mix.PortStats `json:"mix"`
	Err error         `json:"-"`
}

// Conference is a call of several people hosted by this phone, as Skype
// hosted its conferences: each participant has one ordinary call with the
// host, and the host mixes for each the audio of all the others (media/mix).
// Participants need nothing special: to them it is a call with the host.
type Conference struct {
	cfg   ConferenceConfig
	mixer *mix.Mixer
	// devices are the host's microphone and speaker.
	devices *media.FrontEnd
	log     *slog.Logger

	cancel  context.CancelFunc // stops the mixer
	mixDone chan struct{}      // closed when the mixer stops
	mixErr  error              // why it stopped; written before mixDone closes
	wg      sync.WaitGroup     // every participant's watcher

	// mu guards the following fields.
	mu      sync.Mutex
	members map[string]*Call // by peer; nil while its call is being placed
	results []ParticipantResult
	closed  bool
}

// ErrInConference is Add's error for a peer already taking part.
var ErrInConference = errors.New("already in the conference")

// StartConference opens the host's devices and starts mixing; participants
// come with Add and Admit. Close ends it for everyone.
func StartConference(cfg ConferenceConfig) (*Conference, error) {
	if cfg.Phone == nil {
		return nil, errors.New("call: a conference needs a phone")
	}
	if cfg.Logger == nil {
		cfg.Logger = cfg.Phone.log
	}
	if cfg.From != nil {
		return fromCall(cfg)
	}
	// The host's devices through a front end, as a call's: the speaker
	// plays everyone, so on a sound device echo cancellation keeps them
	// out of the host's microphone, and so out of every mix.
	fe, err := media.OpenFrontEnd(media.FrontEndConfig{
		Mic: orDefault(cfg.Media.Mic), MicLoop: cfg.Media.MicLoop, Speaker: orDefault(cfg.Media.Speaker),
		AudioSettings: cfg.Media.Audio, Logger: cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	c, err := startMixing(cfg, fe, fe.Source(), fe.Sink())
	if err != nil {
		fe.Close()
	}
	return c, err
}

// fromCall turns cfg.From into a conference: the call's front end is
// diverted onto its port in the mix, and the mixer takes its devices.
func fromCall(cfg ConferenceConfig) (*Conference, error) {
	call := cfg.From
	fe := call.FrontEnd()
	if fe == nil {
		return nil, errors.New("call: only a call with devices of its own becomes a conference")
	}
	if cfg.Media.FrameSamples == 0 {
		cfg.Media.FrameSamples = call.phone.cfg.Media.FrameSamples
	}
	mic, speaker := fe.Direct()
	c, err := startMixing(cfg, fe, mic, speaker)
	if err != nil {
		return nil, err
	}
	port := c.mixer.AddPort(call.Peer())
	fe.Divert(port, port)
	c.watch(call, port)
	return c, nil
}

// startMixing starts the conference's mixer over the host's processed
// microphone and speaker, which fe owns.
func startMixing(cfg ConferenceConfig, fe *media.FrontEnd, mic media.Source, speaker media.Sink) (*Conference, error) {
	mixer, err := mix.New(mix.Config{Mic: mic, Speaker: speaker, FrameSamples: cfg.Media.FrameSamples})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Conference{
		cfg: cfg, mixer: mixer, devices: fe, log: cfg.Logger.With("conference", true),
		cancel: cancel, mixDone: make(chan struct{}),
		members: make(map[string]*Call),
	}
	// The host's devices are the conference's now, a call's before.
	fe.OnFallback(func(fb media.Fallback) {
		c.emit(ConferenceEvent{Kind: "device", Message: fmt.Sprintf("%s %s stopped; switched to %s", fb.Side, fb.Was, fb.Now)})
	})
	go func() {
		c.mixErr = mixer.Run(ctx)
		close(c.mixDone)
	}()
	return c, nil
}

// Add dials peer into the conference.
func (c *Conference) Add(ctx context.Context, peer string) (*Call, error) {
	if err := c.reserve(peer); err != nil {
		return nil, err
	}
	port := c.mixer.AddPort(peer)
	m := c.participantMedia(port)
	call, err := c.cfg.Phone.Dial(ctx, peer, DialOptions{Media: &m})
	if err != nil {
		port.Close()
		c.release(peer)
		return nil, err
	}
	c.watch(call, port)
	return call, nil
}

// Admit answers a call ringing here into the conference.
func (c *Conference) Admit(call *Call) error {
	if err := c.reserve(call.Peer()); err != nil {
		call.Reject()
		return err
	}
	port := c.mixer.AddPort(call.Peer())
	call.AnswerWith(c.participantMedia(port))
	c.watch(call, port)
	return nil
}

// reserve claims peer's place, so that two adds of one peer make one call.
func (c *Conference) reserve(peer string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if _, ok := c.members[peer]; ok {
		return fmt.Errorf("%s: %w", peer, ErrInConference)
	}
	c.members[peer] = nil
	return nil
}

func (c *Conference) release(peer string) {
	c.mu.Lock()
	delete(c.members, peer)
	c.mu.Unlock()
}

func (c *Conference) participantMedia(port *mix.Port) MediaConfig {
	m := c.cfg.Media
	m.Source, m.Sink, m.Echo = port, port, false
	return m
}

// watch follows a participant's call until it ends, then takes the
// participant out of the mix (the call closes the port too, once it has
// opened its audio; a call that ended before that never did).
func (c *Conference) watch(call *Call, port *mix.Port) {
	c.mu.Lock()
	c.members[call.Peer()] = call
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		select {
		case <-call.Active():
			c.emit(ConferenceEvent{Kind: "joined", Peer: call.Peer()})
		case <-call.Done():
		}
		st, err := call.Result()
		port.Close()
		r := ParticipantResult{Stats: st, Mix: port.Stats(), Err: err}
		c.mu.Lock()
		delete(c.members, call.Peer())
		c.results = append(c.results, r)
		c.mu.Unlock()
		c.emit(ConferenceEvent{Kind: "left", Peer: call.Peer(), Result: &r})
	}()
}

func (c *Conference) emit(ev ConferenceEvent) {
	if ev.Peer != "" {
		c.log.Info("participant "+ev.Kind, "peer", ev.Peer)
	}
	if c.cfg.OnEvent != nil {
		c.cfg.OnEvent(ev)
	}
}

// Remove hangs up peer's call.
func (c *Conference) Remove(peer string) error {
	c.mu.Lock()
	call := c.members[peer]
	c.mu.Unlock()
	if call == nil {
		return fmt.Errorf("%s is not in the conference", peer)
	}
	call.Hangup()
	return nil
}

// Chat sends the host's text to every participant over their calls; the
// error joins those of the calls that could not take it (not yet
// connected).
func (c *Conference) Chat(text string) error {
	var errs []error
	for _, call := range c.calls() {
		if err := call.Chat(text); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", call.Peer(), err))
		}
	}
	return errors.Join(errs...)
}

// Relay passes a participant's chat message on to the others, as the
// mixer does their voices: each receives "from: text" from the host.
func (c *Conference) Relay(from, text string) {
	relayed := []rune(from + ": " + text)
	relayed = relayed[:min(len(relayed), directory.MaxChatRunes)]
	for _, call := range c.calls() {
		if call.Peer() == from {
			continue
		}
		if err := call.Chat(string(relayed)); err != nil {
			c.log.Debug("relay chat", "from", from, "to", call.Peer(), "err", err)
		}
	}
}

// calls returns the participants' calls placed so far.
func (c *Conference) calls() []*Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	calls := make([]*Call, 0, len(c.members))
	for _, call := range c.members {
		if call != nil {
			calls = append(calls, call)
		}
	}
	return calls
}

// Snapshot returns the record so far of every participant whose call is
// connected, by name: the call's live stats and its mix counters.
func (c *Conference) Snapshot() []ParticipantResult {
	ports := make(map[string]*mix.Port)
	for _, p := range c.mixer.Ports() {
		ports[p.Name()] = p
	}
	var out []ParticipantResult
	for _, call := range c.calls() {
		select {
		case <-call.Active():
		default:
			continue // still ringing or connecting
		}
		r := ParticipantResult{Stats: call.LiveStats()}
		if p := ports[call.Peer()]; p != nil {
			r.Mix = p.Stats()
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b ParticipantResult) int { return strings.Compare(a.Peer, b.Peer) })
	return out
}

// Participants returns the peers in the conference or being called.
func (c *Conference) Participants() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	peers := make([]string, 0, len(c.members))
	for p := range c.members {
		peers = append(peers, p)
	}
	return peers
}

// MixerDone is closed when the mixer stops before Close: a device failed,
// and the conference cannot go on (Close says why).
func (c *Conference) MixerDone() <-chan struct{} { return c.mixDone }

// Close hangs up every participant (each hears the host hang up), stops
// the mixer and closes the host's devices. It returns every participant's
// record, in the order they left, and the speaker's error, for a file
// where the recording is finished.
func (c *Conference) Close() ([]ParticipantResult, error) {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	for _, call := range c.calls() {
		call.Hangup()
	}
	c.wg.Wait()
	c.cancel()
	<-c.mixDone
	err := errors.Join(c.mixErr, c.devices.Close())
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.results, err
}

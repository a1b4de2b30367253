package call

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/parley-voip/parley/directory"
	"github.com/parley-voip/parley/media"
)

const (
	// signalTimeout bounds one signalling message's trip to the directory.
	signalTimeout = 5 * time.Second
	// connectTimeout bounds ICE and DTLS after the answer.
	connectTimeout = 20 * time.Second
	// statsInterval is how often a live call samples its path's figures.
	statsInterval = time.Second
	// restartTimeout bounds an ICE restart: a path that is not back by
	// then is lost. With ICE's 1.5 s to call a silent path disconnected, a
	// vanished peer is found in ~7 s, within the 10 s goal on a busy
	// machine too; a restart that can work takes 1-2 s.
	restartTimeout = 5 * time.Second
	// refusalGrace is how long a caller whose every ringing device refused
	// waits for another device's ringing before taking the refusal: one
	// device's "busy" can overtake another's "ringing".
	refusalGrace = 500 * time.Millisecond
	// byeFlush bounds the wait for a hang-up on the control channel to
	// leave before the PeerConnection closes.
	byeFlush = 200 * time.Millisecond
)

// Call is one voice call. Its methods are safe to call from any goroutine;
// the call's own goroutine does the work.
type Call struct {
	phone     *Phone
	peer      string
	direction Direction
	opt       DialOptions
	log       *slog.Logger
	// id changes at most once: when glare makes an outgoing call take the
	// peer's call over (Phone.route).
	id atomic.Pointer[string]

	inbox    chan directory.Signal // from the phone's router; bounded, since the peer fills it
	events   *mailbox[any]         // from pion's callbacks and the call's own goroutines
	commands chan command          // from the user
	active   chan struct{}         // closed when media starts flowing
	done     chan struct{}         // closed when the call has ended

	// mu guards status, written by the actor.
	mu     sync.Mutex
	status Status
	// chat is the chat channel of the call's PeerConnection (chat.go).
	chat atomic.Pointer[webrtc.DataChannel]
	// frontEnd is the call's sound once its devices are open (nil for the
	// echo service and for a given Source and Sink).
	frontEnd atomic.Pointer[media.FrontEnd]

	// Written by the actor before done is closed; read after.
	stats Stats
	err   error
}

type command struct {
	kind  commandKind
	media MediaConfig  // cmdAnswer: the devices to answer with
	stats chan<- Stats // cmdStats: where the snapshot goes
}

type commandKind int

const (
	cmdAnswer commandKind = iota
	cmdReject
	cmdHangup
	cmdHold
	cmdResume
	cmdMute
	cmdUnmute
	cmdStats
)

// Events pion's callbacks post to the actor. Those of a PeerConnection
// carry it, since glare can replace one before its events are taken.
type (
	evCandidate struct {
		pc *webrtc.PeerConnection
		c  *webrtc.ICECandidate
	}
	evState struct {
		pc *webrtc.PeerConnection
		s  webrtc.PeerConnectionState
	}
	evTrack struct {
		pc *webrtc.PeerConnection
		t  *webrtc.TrackRemote
	}
	// evMediaEnded: a media loop stopped on its own; remoteClosed when the
	// peer closed DTLS (close_notify), which is a hang-up that needs no
	// directory.
	evMediaEnded struct {
		loop         string
		remoteClosed bool
		err          error
	}
	evSignalError struct {
		kind directory.SignalKind
		err  error
	}
	evControlOpen struct{}
	evControl     struct{ m controlMsg }
)

func newCall(p *Phone, id, peer string, dir Direction, start time.Time, opt DialOptions) *Call {
	c := &Call{
		phone:     p,
		peer:      peer,
		direction: dir,
		opt:       opt,
		log:       p.log.With("call", id, "peer", peer, "direction", dir),
		inbox:     make(chan directory.Signal, 64),
		events:    newMailbox[any](),
		commands:  make(chan command, 4),
		active:    make(chan struct{}),
		done:      make(chan struct{}),
		stats: Stats{
			CallID:    id,
			Peer:      peer,
			Direction: dir,
			Start:     start,
			Codec:     codecName,
		},
	}
	c.id.Store(&id)
	c.status.State = StateRinging
	if dir == Outgoing {
		c.status.State = StateDialing
	}
	return c
}

// ID returns the call's ID, unique across the directory.
func (c *Call) ID() string { return *c.id.Load() }

// Peer returns the other party's username.
func (c *Call) Peer() string { return c.peer }

// Direction says who placed the call.
func (c *Call) Direction() Direction { return c.direction }

// Status returns the call's state, hold and mute, and SAS.
func (c *Call) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// Answer accepts a ringing incoming call with the phone's devices.
func (c *Call) Answer() { c.AnswerWith(c.phone.cfg.Media) }

// AnswerWith accepts a ringing incoming call with the devices of m.
func (c *Call) AnswerWith(m MediaConfig) { c.command(command{kind: cmdAnswer, media: m}) }

// Reject declines a ringing incoming call.
func (c *Call) Reject() { c.command(command{kind: cmdReject}) }

// Hangup ends the call, whatever its state.
func (c *Call) Hangup() { c.command(command{kind: cmdHangup}) }

// Hold stops the media both ways until Resume; the peer sees the call held.
func (c *Call) Hold() { c.command(command{kind: cmdHold}) }

// Resume takes the call off hold.
func (c *Call) Resume() { c.command(command{kind: cmdResume}) }

// Mute stops sending this side's audio until Unmute; the peer sees it.
func (c *Call) Mute() { c.command(command{kind: cmdMute}) }

// Unmute sends this side's audio again.
func (c *Call) Unmute() { c.command(command{kind: cmdUnmute}) }

// Do runs a text command, as a script gives it on 'parley call's standard
// input: hold, resume, mute, unmute, hangup or "chat TEXT", or an audio
// command of media.FrontEnd.Do (mic SPEC, speaker SPEC, aec off, ...).
func (c *Call) Do(text string) error {
	if msg, ok := chatCommand(text); ok {
		return c.Chat(msg)
	}
	if fe := c.FrontEnd(); fe != nil {
		if done, err := fe.Do(text); done {
			return err
		}
	}
	do := map[string]func(){
		"hold": c.Hold, "resume": c.Resume, "mute": c.Mute, "unmute": c.Unmute, "hangup": c.Hangup,
	}[strings.TrimSpace(text)]
	if do == nil {
		return fmt.Errorf("unknown command %q: want hold, resume, mute, unmute or hangup", strings.TrimSpace(text))
	}
	do()
	return nil
}

// setFrontEnd makes fe (nil: none) the call's sound; a device of it that
// stops and is replaced is a call event as well as a warning.
func (c *Call) setFrontEnd(fe *media.FrontEnd) {
	c.frontEnd.Store(fe)
	if fe != nil {
		fe.OnFallback(func(fb media.Fallback) {
			c.emit(EventDevice, fmt.Sprintf("%s %s stopped; switched to %s", fb.Side, fb.Was, fb.Now))
		})
	}
}

// FrontEnd returns the call's sound, to switch devices and settings while
// it runs; nil before its devices are open, and for the echo service.
func (c *Call) FrontEnd() *media.FrontEnd { return c.frontEnd.Load() }

// LiveStats returns the call's stats so far; after the call, its final
// ones.
func (c *Call) LiveStats() Stats {
	reply := make(chan Stats, 1)
	select {
	case c.commands <- command{kind: cmdStats, stats: reply}:
	case <-c.done:
		return c.stats
	}
	select {
	case st := <-reply:
		return st
	case <-c.done:
		return c.stats
	}
}

func (c *Call) command(cmd command) {
	select {
	case c.commands <- cmd:
	case <-c.done:
	}
}

// Active is closed when the call connects and its media starts flowing; a
// call that ends before that never closes it.
func (c *Call) Active() <-chan struct{} { return c.active }

// Done is closed when the call has ended.
func (c *Call) Done() <-chan struct{} { return c.done }

// Result returns the call's stats and, for a call that did not complete
// (anything but a hang-up after talking), an *EndError. Call it after Done.
func (c *Call) Result() (Stats, error) {
	<-c.done
	return c.stats, c.err
}

// post hands a signal to the actor without blocking the router.
func (c *Call) post(sig directory.Signal) {
	select {
	case c.inbox <- sig:
	default:
		c.log.Warn("call inbox full; dropping signal", "kind", sig.Kind)
	}
}

// postEvent is how pion's callbacks reach the actor; it never blocks them
// and never loses an event.
func (c *Call) postEvent(ev any) { c.events.put(ev) }

// session is the state the actor owns while the call runs.
type session struct {
	pc *webrtc.PeerConnection
	// offerer: this side made the call's offer (the caller, unless glare
	// made it answer the peer's call); it makes the ICE restart offers.
	offerer       bool
	track         *webrtc.TrackLocalStaticRTP
	gate          *gate
	control       *webrtc.DataChannel
	remoteSet     bool
	pendingRemote []candidatePayload // candidates that came before the remote description
	audio         *audio             // nil for the echo service
	mediaStart    time.Time
	mediaCtx      context.Context
	stopMedia     context.CancelFunc
	mediaWG       sync.WaitGroup
	outbox        *mailbox[directory.Signal]
	outboxDone    chan struct{}
	answered      bool
	peerEnded     bool // the peer (or the directory for it) ended the call: nothing to tell it
	// refusedBy: the identity check that refused the call, told to the
	// peer so that it ends identity-refused rather than guess.
	refusedBy    EndReason
	connected    bool
	pendingTrack *webrtc.TrackRemote // a track that arrived before media started
	// restarting: the path failed and an ICE restart is under way (the
	// caller offered one, or the callee waits for it).
	restarting bool

	// The caller's view of the callee's devices: those ringing, the one
	// whose answer won, and the last refusal, taken once none rings.
	ringing map[string]bool
	winner  string
	refusal EndReason
}

// candidatePayload is a candidate signal's payload: the ICE candidate and
// the sending phone's leg, so that a caller ignores the candidates of a
// device whose answer lost.
type candidatePayload struct {
	webrtc.ICECandidateInit
	Leg string `json:"leg,omitempty"`
}

// runLoop is the call's actor: it owns the PeerConnection and every piece
// of the call's state until the call ends. refusal, for an incoming call
// whose offer did not verify, ends it before it rings.
func (c *Call) runLoop(ctx context.Context, offer *directory.Signal, refusal error, a *audio) {
	s := &session{
		audio: a, offerer: c.direction == Outgoing, ringing: make(map[string]bool),
		outbox: newMailbox[directory.Signal](), outboxDone: make(chan struct{}),
	}
	c.setFrontEnd(a.front())
	go c.sendLoop(ctx, s.outbox, s.outboxDone)

	var reason EndReason
	var err error
	if refusal != nil {
		reason, err = refusedReason(refusal), refusal
		if reason != EndFailed {
			s.refusedBy = reason
		}
	} else {
		reason, err = c.run(ctx, s, offer)
	}
	// Ended from now on, for whoever looks, though it takes a moment to
	// close; the event says so once the stats are final.
	c.mu.Lock()
	c.status.State = StateEnded
	c.mu.Unlock()
	if !s.peerEnded {
		c.tellPeer(s, reason)
	}
	s.outbox.close()
	c.finish(s, reason, err)
	<-s.outboxDone
	close(c.done)
}

// refusedReason is the end reason of a call refused for err: errKeyChanged,
// errBadSignature, or a failure to read the pinned keys (which refuses
// too, since nothing can be checked).
func refusedReason(err error) EndReason {
	switch {
	case errors.Is(err, errKeyChanged):
		return EndKeyChanged
	case errors.Is(err, errBadSignature):
		return EndBadSignature
	}
	return EndFailed
}

// tellPeer tells the peer the call has ended: over the control channel
// (which needs no directory) and through the directory. A callee that
// declines rejects; every other end is a hang-up.
func (c *Call) tellPeer(s *session, reason EndReason) {
	if s.control != nil && s.control.ReadyState() == webrtc.DataChannelStateOpen {
		c.sendControl(s, controlMsg{Type: controlBye})
		for deadline := time.Now().Add(byeFlush); s.control.BufferedAmount() > 0 && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
	}
	p := legPayload{Leg: c.phone.leg}
	switch {
	case s.refusedBy != "":
		p.Reason = EndIdentityRefused
	case reason == EndICEFailed:
		p.Reason = EndICEFailed // the peer's checks found no path either
	}
	kind := directory.SignalHangup
	if c.direction == Incoming && !s.answered && (reason == EndRejected || s.refusedBy != "") {
		kind = directory.SignalReject
	}
	s.outbox.put(c.signal(kind, p))
}

// run drives the call until it ends and says why.
func (c *Call) run(ctx context.Context, s *session, offer *directory.Signal) (EndReason, error) {
	ringTimer := time.NewTimer(c.phone.cfg.RingTimeout)
	defer ringTimer.Stop()
	var connectTimer, durationTimer, statsTicker, restartTimer, refusalTimer <-chan time.Time

	if s.offerer {
		if err := c.newPeerConnection(s); err != nil {
			return EndFailed, err
		}
		sdp, err := s.pc.CreateOffer(nil)
		if err != nil {
			return EndFailed, fmt.Errorf("create offer: %w", err)
		}
		if err := s.pc.SetLocalDescription(sdp); err != nil {
			return EndFailed, fmt.Errorf("set local offer: %w", err)
		}
		s.outbox.put(c.sdpSignal(directory.SignalOffer, sdp.SDP))
		c.emit(string(StateDialing), "")
	} else {
		s.outbox.put(c.signal(directory.SignalRinging, legPayload{Leg: c.phone.leg}))
		c.emit(string(StateRinging), "")
	}

	for {
		select {
		case <-ctx.Done():
			return c.hangupReason(s), nil

		case <-ringTimer.C:
			if !s.answered {
				if c.direction == Outgoing {
					return EndNoAnswer, nil
				}
				return EndMissed, nil
			}

		case <-refusalTimer:
			if !s.answered && len(s.ringing) == 0 {
				return s.refusal, nil
			}

		case <-connectTimer:
			if !s.connected {
				return EndICEFailed, fmt.Errorf("not connected within %v", connectTimeout)
			}

		case <-durationTimer:
			return EndLocalHangup, nil

		case <-restartTimer:
			// A side whose path never looked dead sees no new "connected".
			if s.restarting && s.pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
				return EndPeerLost, fmt.Errorf("path not restored within %v", restartTimeout)
			}
			s.restarting = false

		case <-statsTicker:
			c.samplePath(s)

		case cmd := <-c.commands:
			switch cmd.kind {
			case cmdHangup:
				return c.hangupReason(s), nil
			case cmdReject:
				if c.direction == Incoming && !s.answered {
					return EndRejected, nil
				}
			case cmdAnswer:
				if c.direction != Incoming || s.answered {
					continue
				}
				if err := c.answer(s, offer, cmd.media); err != nil {
					return EndFailed, err
				}
				ringTimer.Stop()
				connectTimer = time.After(connectTimeout)
			case cmdHold, cmdResume, cmdMute, cmdUnmute:
				c.setHoldMute(s, cmd.kind)
			case cmdStats:
				cmd.stats <- c.snapshot(s)
			}

		case sig := <-c.inbox:
			leg := decodeLeg(sig.Payload)
			switch sig.Kind {
			case directory.SignalRinging:
				if c.direction == Outgoing && !s.answered {
					s.ringing[leg.Leg] = true
					if c.Status().State == StateDialing {
						c.setState(StateRinging, "")
					}
				}
			case directory.SignalOffer:
				switch {
				case !s.offerer && s.answered:
					// A new offer in a running call restarts ICE (RFC 8445
					// §9); only the offerer makes them.
					if err := c.answerRestart(s, sig); err != nil {
						return c.failReason(s, err), err
					}
					if !s.restarting {
						s.restarting = true
						restartTimer = time.After(restartTimeout)
					}
				case s.offerer && !s.answered:
					// Glare: the peer called us as we called them, and the
					// router found their call the one to keep.
					if err := c.adopt(s, sig); err != nil {
						return c.failReason(s, err), err
					}
					offer = &sig
					ringTimer.Stop()
					connectTimer = time.After(connectTimeout)
				}
			case directory.SignalAnswer:
				if !s.offerer || s.answered && !s.restarting {
					continue // a device whose answer lost; it stops on our accept
				}
				p, err := c.phone.verifySDP(sig)
				if err != nil {
					return c.failReason(s, err), err
				}
				if s.answered && p.Leg != s.winner {
					continue
				}
				// The winner is known before the candidates that came early
				// are added: those of the other devices are left out.
				s.winner = p.Leg
				if err := c.setRemote(s, webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: p.SDP}); err != nil {
					return EndFailed, err
				}
				if s.answered {
					continue // the restart's answer
				}
				s.answered = true
				// Every device of the callee hears which one won; the
				// others stop ringing.
				s.outbox.put(c.signal(directory.SignalAccept, legPayload{Leg: p.Leg}))
				c.setState(StateConnecting, "")
				ringTimer.Stop()
				connectTimer = time.After(connectTimeout)
			case directory.SignalCandidate:
				var cand candidatePayload
				if err := json.Unmarshal(sig.Payload, &cand); err != nil {
					c.log.Warn("bad candidate from peer", "err", err)
					continue
				}
				c.addRemoteCandidate(s, cand)
			case directory.SignalAccept:
				if c.direction == Incoming && leg.Leg != c.phone.leg {
					s.peerEnded = true // the caller talks to another device
					return EndAnsweredElsewhere, nil
				}
			case directory.SignalReject, directory.SignalBusy, directory.SignalHangup:
				if s.winner != "" && leg.Leg != "" && leg.Leg != s.winner {
					continue // a device whose answer lost, or that rang on
				}
				// The peer's reason, where it is one both sides share.
				if leg.Reason == EndIdentityRefused || leg.Reason == EndICEFailed && s.answered && !s.connected {
					s.peerEnded = true
					return leg.Reason, nil
				}
				if c.direction == Outgoing && !s.answered {
					// One device's refusal: the call goes on while
					// another rings.
					delete(s.ringing, leg.Leg)
					s.refusal = map[directory.SignalKind]EndReason{
						directory.SignalReject: EndRejected, directory.SignalBusy: EndBusy, directory.SignalHangup: EndNoAnswer,
					}[sig.Kind]
					if len(s.ringing) == 0 {
						refusalTimer = time.After(refusalGrace)
					}
					continue
				}
				if sig.Kind != directory.SignalHangup {
					continue
				}
				s.peerEnded = true
				switch {
				case s.connected:
					return EndRemoteHangup, nil
				case !s.answered:
					return EndMissed, nil // the caller gave up
				}
				return EndCancelled, nil // the peer hung up while connecting
			}

		case <-c.events.ready:
			events, _ := c.events.take()
			for _, ev := range events {
				switch ev := ev.(type) {
				case evCandidate:
					if ev.c != nil && ev.pc == s.pc {
						s.outbox.put(c.signal(directory.SignalCandidate, candidatePayload{ev.c.ToJSON(), c.phone.leg}))
					}
				case evTrack:
					if ev.pc != s.pc {
						continue
					}
					if s.connected {
						c.startReceive(s, ev.t)
					} else {
						s.pendingTrack = ev.t
					}
				case evState:
					if ev.pc != s.pc {
						continue
					}
					c.log.Debug("peer connection", "state", ev.s)
					switch ev.s {
					case webrtc.PeerConnectionStateConnected:
						if s.connected {
							if s.restarting {
								s.restarting, restartTimer = false, nil
								c.samplePath(s)
								c.log.Info("path restored", "path", c.stats.Path, "ice_restarts", c.stats.ICERestarts)
							}
							continue
						}
						s.connected = true
						c.startMedia(s)
						if c.opt.Duration > 0 {
							durationTimer = time.After(c.opt.Duration)
						}
						ticker := time.NewTicker(statsInterval)
						defer ticker.Stop()
						statsTicker = ticker.C
					case webrtc.PeerConnectionStateDisconnected, webrtc.PeerConnectionStateFailed:
						if !s.connected {
							if ev.s == webrtc.PeerConnectionStateFailed {
								return EndICEFailed, nil
							}
							continue
						}
						if s.restarting {
							continue // the restart timer decides
						}
						// The path died (a relay went away, an address
						// changed, the peer vanished): restart ICE rather
						// than hang up.
						s.restarting = true
						restartTimer = time.After(restartTimeout)
						if s.offerer {
							if err := c.offerRestart(s); err != nil {
								return EndPeerLost, err
							}
						}
					}
				case evControlOpen:
					c.sendControl(s, c.stateMessage())
				case evControl:
					if ev.m.Type == controlBye {
						s.peerEnded = true
						return EndRemoteHangup, nil
					}
					c.setPeerState(s, ev.m)
				case evMediaEnded:
					if ev.remoteClosed {
						s.peerEnded = true
						return EndRemoteHangup, nil
					}
					return EndFailed, fmt.Errorf("media %s: %w", ev.loop, ev.err)
				case evSignalError:
					// Only a lost offer dooms the call; the peer learns of
					// anything else some other way. A restart's offer that
					// finds the peer offline means the peer is lost.
					if ev.kind != directory.SignalOffer {
						continue
					}
					if s.answered {
						if s.restarting && errors.Is(ev.err, directory.ErrOffline) {
							return EndPeerLost, fmt.Errorf("path lost and %s is offline", c.peer)
						}
						continue
					}
					switch {
					case errors.Is(ev.err, directory.ErrOffline):
						s.peerEnded = true
						return EndOffline, nil
					case errors.Is(ev.err, directory.ErrNoSuchUser):
						s.peerEnded = true
						return EndNoSuchUser, nil
					}
					return EndFailed, fmt.Errorf("send offer: %w", ev.err)
				}
			}
		}
	}
}

// failReason is the end reason of a call that failed with err: an
// identity check's refusal, which the peer is told of, or a local failure.
func (c *Call) failReason(s *session, err error) EndReason {
	if errors.Is(err, errKeyChanged) || errors.Is(err, errBadSignature) {
		s.refusedBy = refusedReason(err)
		return s.refusedBy
	}
	return EndFailed
}

// hangupReason is the end reason of a hang-up in the call's current state.
func (c *Call) hangupReason(s *session) EndReason {
	switch {
	case s.connected:
		return EndLocalHangup
	case c.direction == Incoming && !s.answered:
		return EndRejected
	default:
		return EndCancelled
	}
}

// setState moves the call to st and tells the user.
func (c *Call) setState(st State, message string) {
	c.mu.Lock()
	c.status.State = st
	c.mu.Unlock()
	if fe := c.frontEnd.Load(); fe != nil && c.direction == Outgoing {
		tone := media.NoTone
		if st == StateRinging {
			tone = media.Ringback // on a sound device; files record only the call
		}
		fe.PlayTone(tone)
	}
	c.emit(string(st), message)
}

// emit hands the user an event with the call's current status.
func (c *Call) emit(event, message string) {
	on := c.phone.cfg.OnEvent
	if on == nil {
		return
	}
	ev := Event{
		Time: time.Now(), Event: event, CallID: c.ID(), Peer: c.peer, Direction: c.direction,
		Status: c.Status(), Message: message,
	}
	if event == string(StateEnded) {
		ev.EndReason = c.stats.EndReason
	}
	on(ev)
}

// setHoldMute applies the user's hold, resume, mute or unmute.
func (c *Call) setHoldMute(s *session, kind commandKind) {
	c.mu.Lock()
	before := c.status
	switch kind {
	case cmdHold:
		c.status.Hold = true
	case cmdResume:
		c.status.Hold = false
	case cmdMute:
		c.status.Mute = true
	case cmdUnmute:
		c.status.Mute = false
	}
	after := c.status
	c.mu.Unlock()
	if after == before {
		return
	}
	c.applyGate(s)
	c.sendControl(s, c.stateMessage())
	c.emit(map[commandKind]string{cmdHold: EventHold, cmdResume: EventResume, cmdMute: EventMute, cmdUnmute: EventUnmute}[kind], "")
	if kind == cmdResume {
		// Taking a call off hold while another waits holds that one
		// (call waiting).
		c.phone.holdOthers(c)
	}
}

// setPeerState takes the peer's hold and mute from its control message.
func (c *Call) setPeerState(s *session, m controlMsg) {
	c.mu.Lock()
	before := c.status
	c.status.PeerHold, c.status.PeerMute = m.Hold, m.Mute
	c.mu.Unlock()
	c.applyGate(s)
	if m.Hold != before.PeerHold {
		c.emit(map[bool]string{true: EventPeerHold, false: EventPeerResume}[m.Hold], "")
	}
	if m.Mute != before.PeerMute {
		c.emit(map[bool]string{true: EventPeerMute, false: EventPeerUnmute}[m.Mute], "")
	}
}

// applyGate holds the outgoing audio back while either side holds the call
// or this side is muted: hold stops the media both ways.
func (c *Call) applyGate(s *session) {
	if s.gate == nil {
		return
	}
	st := c.Status()
	s.gate.closed.Store(st.Hold || st.PeerHold || st.Mute)
}

// stateMessage is this side's hold and mute, for the peer.
func (c *Call) stateMessage() controlMsg {
	st := c.Status()
	return controlMsg{Type: controlState, Hold: st.Hold, Mute: st.Mute}
}

// signal is a signal of the call. Its ID is the actor's own (stats'), which
// glare changes only when the actor adopts the peer's call; the router may
// re-key the call a moment before, and our first offer must keep ours.
func (c *Call) signal(kind directory.SignalKind, payload any) directory.Signal {
	sig := directory.Signal{To: c.peer, CallID: c.stats.CallID, Kind: kind}
	if payload != nil {
		b, err := json.Marshal(payload)
		if err != nil {
			panic(fmt.Sprintf("call: marshal %s payload: %v", kind, err)) // our own types always marshal
		}
		sig.Payload = b
	}
	return sig
}

// sdpSignal is an offer or answer of sdp, signed with the phone's key.
func (c *Call) sdpSignal(kind directory.SignalKind, sdp string) directory.Signal {
	id := c.phone.cfg.Identity
	leg := c.phone.leg
	msg := signedSDP(kind, c.stats.CallID, c.phone.cfg.Directory.User(), c.peer, leg, sdp)
	return c.signal(kind, sdpPayload{SDP: sdp, Leg: leg, Key: id.Public(), Sig: ed25519.Sign(id.Private, msg)})
}

// sendLoop delivers the call's signals in order, so the actor never waits
// on the directory.
func (c *Call) sendLoop(ctx context.Context, outbox *mailbox[directory.Signal], done chan<- struct{}) {
	defer close(done)
	for {
		<-outbox.ready
		signals, closed := outbox.take()
		for _, sig := range signals {
			if closed && sig.Kind == directory.SignalCandidate {
				continue // the call is over: only its ending matters now
			}
			if err := c.send(ctx, sig); err != nil {
				c.log.Debug("send signal", "kind", sig.Kind, "err", err)
				c.postEvent(evSignalError{kind: sig.Kind, err: err})
			}
		}
		if closed {
			return
		}
	}
}

// send delivers sig within signalTimeout, even while the phone closes (a
// hang-up must still go out), trying again while the directory connection
// is being restored: it breaks with the media path when this machine's
// address changes, and the restart's offer and candidates must still go.
func (c *Call) send(ctx context.Context, sig directory.Signal) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), signalTimeout)
	defer cancel()
	for {
		err := c.phone.cfg.Directory.Send(ctx, sig)
		if !errors.Is(err, directory.ErrConnectionLost) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-c.phone.cfg.Directory.Done():
			return err // gone for good: no connection will come back
		case <-time.After(resendWait):
		}
	}
}

// resendWait is how long a signal waits for the directory connection to
// come back before it is sent again (the client reconnects within ~100 ms).
const resendWait = 100 * time.Millisecond

// audio is a call's sound: its devices and the media paths over them.
type audio struct {
	source   media.Source
	sink     media.Sink
	sender   *media.Sender
	receiver *media.Receiver
	frontEnd *media.FrontEnd // the source's and sink's, unless given
}

// front returns a's front end, nil if it has none.
func (a *audio) front() *media.FrontEnd {
	if a == nil {
		return nil
	}
	return a.frontEnd
}

// openAudio opens the microphone and speaker; nil, nil for the echo
// service, which plays the peer's own packets back.
func openAudio(cfg MediaConfig) (*audio, error) {
	if cfg.Echo {
		return nil, nil
	}
	var fe *media.FrontEnd
	if cfg.Source == nil && cfg.Sink == nil {
		var err error
		fe, err = media.OpenFrontEnd(media.FrontEndConfig{
			Mic: orDefault(cfg.Mic), MicLoop: cfg.MicLoop, Speaker: orDefault(cfg.Speaker), AudioSettings: cfg.Audio,
		})
		if err != nil {
			return nil, err
		}
		cfg.Source, cfg.Sink = fe.Source(), fe.Sink()
	}
	source, err := cfg.Source, error(nil)
	if source == nil {
		if source, err = media.OpenSource(orDefault(cfg.Mic), media.SourceOptions{Loop: cfg.MicLoop}); err != nil {
			return nil, fmt.Errorf("microphone: %w", err)
		}
	}
	a := &audio{source: source, sink: cfg.Sink, frontEnd: fe}
	if a.sink == nil {
		if a.sink, err = media.OpenSink(orDefault(cfg.Speaker)); err != nil {
			a.close()
			return nil, fmt.Errorf("speaker: %w", err)
		}
	}
	enc := cfg.Encoder
	enc.DTX = true // silence costs next to nothing on the wire; the receiver conceals the gaps
	if a.sender, err = media.NewSender(media.SenderConfig{Source: source, Encoder: enc, FrameSamples: cfg.FrameSamples}); err != nil {
		a.close()
		return nil, err
	}
	if a.receiver, err = media.NewReceiver(media.ReceiverConfig{Sink: a.sink, FrameSamples: cfg.FrameSamples}); err != nil {
		a.close()
		return nil, err
	}
	return a, nil
}

// close closes the devices; the error is the speaker's, which for a file
// is where the recording is finished.
func (a *audio) close() error {
	if a == nil {
		return nil
	}
	a.source.Close()
	if a.sink != nil {
		return a.sink.Close()
	}
	return nil
}

func orDefault(spec string) string {
	if spec == "" {
		return "default"
	}
	return spec
}

// newPeerConnection makes the call's PeerConnection with one Opus track
// each way and the control channel; its callbacks only post events to the
// actor.
func (c *Call) newPeerConnection(s *session) error {
	pc, err := c.phone.api.NewPeerConnection(c.phone.cfg.ICE.Configuration())
	if err != nil {
		return fmt.Errorf("new peer connection: %w", err)
	}
	s.pc = pc
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) { c.postEvent(evCandidate{pc, cand}) })
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) { c.postEvent(evState{pc, st}) })
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { c.postEvent(evTrack{pc, t}) })

	if s.control, err = c.openControl(pc); err != nil {
		return err
	}
	if err := c.openChat(pc); err != nil {
		return err
	}
	s.track, err = webrtc.NewTrackLocalStaticRTP(opusCodec, "audio", "parley-"+c.phone.cfg.Directory.User())
	if err != nil {
		return fmt.Errorf("new audio track: %w", err)
	}
	s.gate = &gate{track: s.track}
	c.applyGate(s)
	rtpSender, err := pc.AddTrack(s.track)
	if err != nil {
		return fmt.Errorf("add audio track: %w", err)
	}
	// RTCP must be read for pion's interceptors (reports, NACK) to work; the
	// reads fail, ending these goroutines, when the PeerConnection closes.
	// The peer's receiver reports steer our encoder (bitrate, FEC); its
	// sender reports, read on the receiving side, let our receiver reports
	// echo them (LSR, DLSR), from which the peer measures the round trip.
	a := s.audio
	s.mediaWG.Add(1)
	go func() {
		defer s.mediaWG.Done()
		for {
			pkts, _, err := rtpSender.ReadRTCP()
			if err != nil {
				return
			}
			if a != nil {
				a.sender.HandleRTCP(pkts)
			}
		}
	}()
	for _, tr := range pc.GetTransceivers() {
		if tr.Sender() != rtpSender || tr.Receiver() == nil {
			continue
		}
		s.mediaWG.Add(1)
		go func(r *webrtc.RTPReceiver) {
			defer s.mediaWG.Done()
			for {
				if _, _, err := r.ReadRTCP(); err != nil {
					return
				}
			}
		}(tr.Receiver())
	}
	return nil
}

// answer accepts the offer that started an incoming call (verified by the
// router before it rang), with the devices of m unless the call has its
// audio already.
func (c *Call) answer(s *session, offer *directory.Signal, m MediaConfig) error {
	var p sdpPayload
	if err := json.Unmarshal(offer.Payload, &p); err != nil {
		return fmt.Errorf("peer's offer: %w", err)
	}
	if s.audio == nil {
		var err error
		if s.audio, err = openAudio(m); err != nil {
			return err
		}
		c.setFrontEnd(s.audio.front())
	}
	if err := c.newPeerConnection(s); err != nil {
		return err
	}
	if err := c.setRemote(s, webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: p.SDP}); err != nil {
		return err
	}
	sdp, err := s.pc.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("create answer: %w", err)
	}
	if err := s.pc.SetLocalDescription(sdp); err != nil {
		return fmt.Errorf("set local answer: %w", err)
	}
	c.stats.Start = time.Now()
	s.outbox.put(c.sdpSignal(directory.SignalAnswer, sdp.SDP))
	s.answered = true
	c.setState(StateConnecting, "")
	if m.Source == nil {
		// The calls share this phone's devices: the user takes this one.
		// A conference's calls have mixer ports of their own instead.
		c.phone.holdOthers(c)
	}
	return nil
}

// adopt turns this outgoing call into the answer of the peer's own call to
// us (glare): our offer and PeerConnection go, the peer's offer is
// answered with the audio already open. The router has re-keyed the call
// to the peer's call ID.
func (c *Call) adopt(s *session, offer directory.Signal) error {
	if _, err := c.phone.verifySDP(offer); err != nil {
		return err
	}
	c.log.Info("glare: both called at once; answering the peer's call", "call", offer.CallID)
	if err := s.pc.Close(); err != nil {
		c.log.Debug("close peer connection", "err", err)
	}
	s.pc, s.control, s.remoteSet, s.pendingRemote, s.pendingTrack = nil, nil, false, nil, nil
	s.offerer = false
	// Our own call may ring on the peer's other devices: it is off.
	s.outbox.put(c.signal(directory.SignalHangup, legPayload{Leg: c.phone.leg}))
	c.stats.CallID = offer.CallID
	return c.answer(s, &offer, MediaConfig{})
}

// setRemote applies the peer's description and the candidates that came
// before it.
func (c *Call) setRemote(s *session, desc webrtc.SessionDescription) error {
	if err := s.pc.SetRemoteDescription(desc); err != nil {
		return fmt.Errorf("peer's %s: %w", desc.Type, err)
	}
	s.remoteSet = true
	for _, cand := range s.pendingRemote {
		c.addRemoteCandidate(s, cand)
	}
	s.pendingRemote = nil
	return nil
}

// offerRestart sends the peer an offer with new ICE credentials, which
// makes both sides gather and check anew (RFC 8445 §9) while DTLS and the
// media keep going once a path is back.
func (c *Call) offerRestart(s *session) error {
	c.restartElsewhere(s)
	sdp, err := s.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: true})
	if err != nil {
		return fmt.Errorf("create restart offer: %w", err)
	}
	if err := s.pc.SetLocalDescription(sdp); err != nil {
		return fmt.Errorf("set local restart offer: %w", err)
	}
	c.stats.ICERestarts++
	c.log.Info("path lost: restarting ICE", "ice_restarts", c.stats.ICERestarts)
	s.outbox.put(c.sdpSignal(directory.SignalOffer, sdp.SDP))
	return nil
}

// restartElsewhere prepares either side's ICE restart: our relay on the
// dead path may be what failed, so the source leaves it out of later
// calls (nat.ICEConfig.PathLost), and the restart gathers from the servers
// a new call would get (pion takes new servers at a restart): fresh
// credentials, and not that relay.
func (c *Call) restartElsewhere(s *session) {
	c.phone.cfg.ICE.PathLost(c.stats.RelayAddr)
	if err := s.pc.SetConfiguration(c.phone.cfg.ICE.Configuration()); err != nil {
		c.log.Warn("restart with the call's first ICE servers", "err", err)
	}
}

// answerRestart answers the offerer's ICE restart offer.
func (c *Call) answerRestart(s *session, sig directory.Signal) error {
	p, err := c.phone.verifySDP(sig)
	if err != nil {
		return err
	}
	c.restartElsewhere(s)
	if err := c.setRemote(s, webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: p.SDP}); err != nil {
		return err
	}
	sdp, err := s.pc.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("create restart answer: %w", err)
	}
	if err := s.pc.SetLocalDescription(sdp); err != nil {
		return fmt.Errorf("set local restart answer: %w", err)
	}
	c.stats.ICERestarts++
	c.log.Info("peer restarts ICE", "ice_restarts", c.stats.ICERestarts)
	s.outbox.put(c.sdpSignal(directory.SignalAnswer, sdp.SDP))
	return nil
}

// maxPendingCandidates bounds what a peer can make us hold before the call
// is answered.
const maxPendingCandidates = 64

func (c *Call) addRemoteCandidate(s *session, cand candidatePayload) {
	if !s.remoteSet {
		if len(s.pendingRemote) < maxPendingCandidates {
			s.pendingRemote = append(s.pendingRemote, cand)
		}
		return
	}
	if s.winner != "" && cand.Leg != "" && cand.Leg != s.winner {
		return // a device whose answer lost
	}
	if err := s.pc.AddICECandidate(cand.ICECandidateInit); err != nil {
		c.log.Warn("peer's candidate", "err", err)
	}
}

// startMedia starts sending and playing out when the path is up.
func (c *Call) startMedia(s *session) {
	s.mediaStart = time.Now()
	c.stats.SetupMS = durationMS(s.mediaStart.Sub(c.stats.Start))
	c.samplePath(s)
	c.stats.SAS = sas(s.pc.LocalDescription().SDP, s.pc.RemoteDescription().SDP)
	c.mu.Lock()
	c.status.SAS = c.stats.SAS
	c.mu.Unlock()
	close(c.active)
	c.log.Info("call connected", "setup_ms", c.stats.SetupMS, "path", c.stats.Path, "sas", c.stats.SAS)
	c.setState(StateActive, "")
	s.mediaCtx, s.stopMedia = context.WithCancel(context.Background())
	if s.audio != nil {
		c.goMedia(s, "send", func(ctx context.Context) error { return s.audio.sender.Run(ctx, s.gate) })
		c.goMedia(s, "play", s.audio.receiver.Play)
	}
	if s.pendingTrack != nil {
		c.startReceive(s, s.pendingTrack)
		s.pendingTrack = nil
	}
}

// samplePath records the selected candidate pair and its round trip time;
// sampled while the call is up, since a closed ICE agent has nothing to say.
func (c *Call) samplePath(s *session) {
	if s.pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
		return // closing: the ICE agent may be gone already
	}
	if senders := s.pc.GetSenders(); len(senders) > 0 {
		c.stats.fillPath(senders[0].Transport().ICETransport())
	}
}

// startReceive starts reading the peer's audio track.
func (c *Call) startReceive(s *session, t *webrtc.TrackRemote) {
	if s.audio == nil { // the echo service
		c.goMedia(s, "echo", func(ctx context.Context) error { return echo(ctx, t, s.track) })
		return
	}
	c.goMedia(s, "receive", func(ctx context.Context) error { return s.audio.receiver.Receive(ctx, t) })
}

// goMedia runs one media loop under the session and tells the actor if
// it stops on its own: a call that cannot carry audio is no call.
func (c *Call) goMedia(s *session, name string, loop func(context.Context) error) {
	s.mediaWG.Add(1)
	go func() {
		defer s.mediaWG.Done()
		err := loop(s.mediaCtx)
		if s.mediaCtx.Err() != nil {
			return
		}
		c.postEvent(evMediaEnded{loop: name, remoteClosed: errors.Is(err, io.EOF), err: err})
	}()
}

// echo sends every packet of the peer's track straight back to it.
func echo(ctx context.Context, in *webrtc.TrackRemote, out *webrtc.TrackLocalStaticRTP) error {
	for ctx.Err() == nil {
		pkt, _, err := in.ReadRTP()
		if err != nil {
			return err
		}
		if err := out.WriteRTP(pkt); err != nil {
			return err
		}
	}
	return nil
}

// snapshot is the call's stats so far.
func (c *Call) snapshot(s *session) Stats {
	st := c.stats
	if s.connected {
		st.DurationS = time.Since(s.mediaStart).Seconds()
	}
	if s.audio != nil {
		st.fillMedia(s.audio.sender, s.audio.receiver)
	}
	if s.gate != nil {
		st.PacketsSent -= min(st.PacketsSent, s.gate.dropped.Load())
	}
	return st
}

// finish stops the media, closes the PeerConnection, fixes the stats and
// records the call in the history.
func (c *Call) finish(s *session, reason EndReason, err error) {
	if s.stopMedia != nil {
		s.stopMedia()
	}
	if s.pc != nil {
		if cerr := s.pc.Close(); cerr != nil {
			c.log.Debug("close peer connection", "err", cerr)
		}
	}
	s.mediaWG.Wait()
	c.stats = c.snapshot(s)
	c.stats.EndReason = reason
	if fe := s.audio.front(); fe != nil {
		// On a sound device, the end's tone plays out before it closes.
		switch {
		case reason == EndBusy, reason == EndRejected && c.direction == Outgoing:
			fe.PlayTone(media.Busy)
		case s.connected:
			fe.PlayTone(media.CallEnded)
		}
	}
	if cerr := s.audio.close(); cerr != nil {
		c.log.Warn("close speaker", "err", cerr)
	}
	if !reason.completed() {
		c.err = &EndError{Reason: reason, Err: err}
	}
	switch {
	case s.refusedBy != "":
		// Loud: someone may be tampering with this user's calls.
		c.log.Error("call REFUSED: the peer's identity did not verify", "reason", reason, "err", err)
	default:
		c.log.Info("call ended", "reason", reason, "duration_s", c.stats.DurationS)
	}
	if home := c.phone.cfg.Home; home != "" {
		if herr := appendHistory(home, historyRecord(c.stats)); herr != nil {
			c.log.Warn("record call", "err", herr)
		}
	}
	message := ""
	if err != nil {
		message = err.Error()
	}
	c.emit(string(StateEnded), message)
}

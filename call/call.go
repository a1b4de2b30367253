package call

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
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
	// then is lost.
	restartTimeout = 10 * time.Second
)

// Call is one voice call. Its methods are safe to call from any goroutine;
// the call's own goroutine does the work.
type Call struct {
	phone     *Phone
	id        string
	peer      string
	direction Direction
	opt       DialOptions
	log       *slog.Logger

	inbox    chan directory.Signal // from the phone's router; bounded, since the peer fills it
	events   *mailbox[any]         // from pion's callbacks and the call's own goroutines
	commands chan command          // from the user
	active   chan struct{}         // closed when media starts flowing
	done     chan struct{}         // closed when the call has ended

	// Written by the actor before done is closed; read after.
	stats Stats
	err   error
}

type command struct {
	kind  commandKind
	media MediaConfig // cmdAnswer: the devices to answer with
}

type commandKind int

const (
	cmdAnswer commandKind = iota
	cmdReject
	cmdHangup
)

// Events pion's callbacks post to the actor.
type (
	evCandidate struct{ c *webrtc.ICECandidate }
	evState     struct{ s webrtc.PeerConnectionState }
	evTrack     struct{ t *webrtc.TrackRemote }
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
)

func newCall(p *Phone, id, peer string, dir Direction, start time.Time, opt DialOptions) *Call {
	return &Call{
		phone:     p,
		id:        id,
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
}

// ID returns the call's ID, unique across the directory.
func (c *Call) ID() string { return c.id }

// Peer returns the other party's username.
func (c *Call) Peer() string { return c.peer }

// Direction says who placed the call.
func (c *Call) Direction() Direction { return c.direction }

// Answer accepts a ringing incoming call with the phone's devices.
func (c *Call) Answer() { c.AnswerWith(c.phone.cfg.Media) }

// AnswerWith accepts a ringing incoming call with the devices of m.
func (c *Call) AnswerWith(m MediaConfig) { c.command(command{kind: cmdAnswer, media: m}) }

// Reject declines a ringing incoming call.
func (c *Call) Reject() { c.command(command{kind: cmdReject}) }

// Hangup ends the call, whatever its state.
func (c *Call) Hangup() { c.command(command{kind: cmdHangup}) }

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
	pc            *webrtc.PeerConnection
	track         *webrtc.TrackLocalStaticRTP
	remoteSet     bool
	pendingRemote []webrtc.ICECandidateInit // candidates that came before the remote description
	audio         *audio                    // nil for the echo service
	mediaStart    time.Time
	mediaCtx      context.Context
	stopMedia     context.CancelFunc
	mediaWG       sync.WaitGroup
	outbox        *mailbox[directory.Signal]
	outboxDone    chan struct{}
	answered      bool
	peerEnded     bool // the peer (or the directory for it) ended the call: nothing to tell it
	connected     bool
	pendingTrack  *webrtc.TrackRemote // a track that arrived before media started
	// restarting: the path failed and an ICE restart is under way (the
	// caller offered one, or the callee waits for it).
	restarting bool
}

// runLoop is the call's actor: it owns the PeerConnection and every piece
// of the call's state until the call ends.
func (c *Call) runLoop(ctx context.Context, offer *directory.Signal, a *audio) {
	s := &session{audio: a, outbox: newMailbox[directory.Signal](), outboxDone: make(chan struct{})}
	go c.sendLoop(ctx, s.outbox, s.outboxDone)

	reason, err := c.run(ctx, s, offer)
	if !s.peerEnded {
		// Tell the peer: a callee that declines rejects; every other end
		// is a hang-up.
		kind := directory.SignalHangup
		if reason == EndRejected {
			kind = directory.SignalReject
		}
		s.outbox.put(c.signal(kind, nil))
	}
	s.outbox.close()
	c.finish(s, reason, err)
	<-s.outboxDone
	close(c.done)
}

// run drives the call until it ends and says why.
func (c *Call) run(ctx context.Context, s *session, offer *directory.Signal) (EndReason, error) {
	ringTimer := time.NewTimer(c.phone.cfg.RingTimeout)
	defer ringTimer.Stop()
	var connectTimer, durationTimer, statsTicker, restartTimer <-chan time.Time

	if c.direction == Outgoing {
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
		s.outbox.put(c.signal(directory.SignalOffer, sdpPayload{SDP: sdp.SDP}))
	} else {
		s.outbox.put(c.signal(directory.SignalRinging, nil))
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
				s.answered = true
				ringTimer.Stop()
				connectTimer = time.After(connectTimeout)
			}

		case sig := <-c.inbox:
			switch sig.Kind {
			case directory.SignalRinging:
				c.log.Debug("ringing")
			case directory.SignalOffer:
				// A new offer in a running call restarts ICE (RFC 8445
				// §9); only the caller makes them.
				if c.direction != Incoming || !s.answered {
					continue
				}
				if err := c.answerRestart(s, sig); err != nil {
					return EndFailed, err
				}
				if !s.restarting {
					s.restarting = true
					restartTimer = time.After(restartTimeout)
				}
			case directory.SignalAnswer:
				if c.direction == Outgoing && s.restarting {
					var p sdpPayload
					if err := json.Unmarshal(sig.Payload, &p); err != nil {
						return EndFailed, fmt.Errorf("peer's restart answer: %w", err)
					}
					if err := c.setRemote(s, webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: p.SDP}); err != nil {
						return EndFailed, err
					}
					continue
				}
				if c.direction != Outgoing || s.answered {
					continue
				}
				var p sdpPayload
				if err := json.Unmarshal(sig.Payload, &p); err != nil {
					return EndFailed, fmt.Errorf("peer's answer: %w", err)
				}
				if err := c.setRemote(s, webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: p.SDP}); err != nil {
					return EndFailed, err
				}
				s.answered = true
				ringTimer.Stop()
				connectTimer = time.After(connectTimeout)
			case directory.SignalCandidate:
				var cand webrtc.ICECandidateInit
				if err := json.Unmarshal(sig.Payload, &cand); err != nil {
					c.log.Warn("bad candidate from peer", "err", err)
					continue
				}
				c.addRemoteCandidate(s, cand)
			case directory.SignalReject:
				s.peerEnded = true
				return EndRejected, nil
			case directory.SignalBusy:
				s.peerEnded = true
				return EndBusy, nil
			case directory.SignalHangup:
				s.peerEnded = true
				switch {
				case s.connected:
					return EndRemoteHangup, nil
				case !s.answered && c.direction == Incoming:
					return EndMissed, nil // the caller gave up
				case !s.answered:
					return EndNoAnswer, nil // the callee stopped ringing
				}
				return EndCancelled, nil // the peer hung up while connecting
			}

		case <-c.events.ready:
			events, _ := c.events.take()
			for _, ev := range events {
				switch ev := ev.(type) {
				case evCandidate:
					if ev.c != nil {
						s.outbox.put(c.signal(directory.SignalCandidate, ev.c.ToJSON()))
					}
				case evTrack:
					if s.connected {
						c.startReceive(s, ev.t)
					} else {
						s.pendingTrack = ev.t
					}
				case evState:
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
						// changed): restart ICE rather than hang up.
						s.restarting = true
						restartTimer = time.After(restartTimeout)
						if c.direction == Outgoing {
							if err := c.offerRestart(s); err != nil {
								return EndPeerLost, err
							}
						}
					}
				case evMediaEnded:
					if ev.remoteClosed {
						s.peerEnded = true
						return EndRemoteHangup, nil
					}
					return EndFailed, fmt.Errorf("media %s: %w", ev.loop, ev.err)
				case evSignalError:
					// Only a lost offer dooms the call; the peer learns of
					// anything else some other way.
					if ev.kind != directory.SignalOffer {
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

// sdpPayload is the payload of offer and answer signals.
type sdpPayload struct {
	SDP string `json:"sdp"`
}

func (c *Call) signal(kind directory.SignalKind, payload any) directory.Signal {
	sig := directory.Signal{To: c.peer, CallID: c.id, Kind: kind}
	if payload != nil {
		b, err := json.Marshal(payload)
		if err != nil {
			panic(fmt.Sprintf("call: marshal %s payload: %v", kind, err)) // our own types always marshal
		}
		sig.Payload = b
	}
	return sig
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
			// A hang-up must still go out while the phone closes.
			sendCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), signalTimeout)
			err := c.phone.cfg.Directory.Send(sendCtx, sig)
			cancel()
			if err != nil {
				c.log.Debug("send signal", "kind", sig.Kind, "err", err)
				c.postEvent(evSignalError{kind: sig.Kind, err: err})
			}
		}
		if closed {
			return
		}
	}
}

// audio is a call's sound: its devices and the media paths over them.
type audio struct {
	source   media.Source
	sink     media.Sink
	sender   *media.Sender
	receiver *media.Receiver
}

// openAudio opens the microphone and speaker; nil, nil for the echo
// service, which plays the peer's own packets back.
func openAudio(cfg MediaConfig) (*audio, error) {
	if cfg.Echo {
		return nil, nil
	}
	source, err := cfg.Source, error(nil)
	if source == nil {
		if source, err = media.OpenSource(orDefault(cfg.Mic), media.SourceOptions{Loop: cfg.MicLoop}); err != nil {
			return nil, fmt.Errorf("microphone: %w", err)
		}
	}
	a := &audio{source: source, sink: cfg.Sink}
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
// each way; its callbacks only post events to the actor.
func (c *Call) newPeerConnection(s *session) error {
	pc, err := c.phone.api.NewPeerConnection(c.phone.cfg.ICE.Configuration())
	if err != nil {
		return fmt.Errorf("new peer connection: %w", err)
	}
	s.pc = pc
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) { c.postEvent(evCandidate{cand}) })
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) { c.postEvent(evState{st}) })
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { c.postEvent(evTrack{t}) })

	s.track, err = webrtc.NewTrackLocalStaticRTP(opusCodec, "audio", "parley-"+c.phone.cfg.Directory.User())
	if err != nil {
		return fmt.Errorf("new audio track: %w", err)
	}
	rtpSender, err := pc.AddTrack(s.track)
	if err != nil {
		return fmt.Errorf("add audio track: %w", err)
	}
	// RTCP must be read for pion's interceptors (reports, NACK) to work; the
	// reads fail, ending these goroutines, when the PeerConnection closes.
	// The peer's receiver reports steer our encoder (bitrate, FEC); its
	// sender reports, read on the receiving side, let our receiver reports
	// echo them (LSR, DLSR), from which the peer measures the round trip.
	s.mediaWG.Add(1)
	go func() {
		defer s.mediaWG.Done()
		for {
			pkts, _, err := rtpSender.ReadRTCP()
			if err != nil {
				return
			}
			if s.audio != nil {
				s.audio.sender.HandleRTCP(pkts)
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

// answer accepts the offer that started an incoming call.
func (c *Call) answer(s *session, offer *directory.Signal, m MediaConfig) error {
	var p sdpPayload
	if err := json.Unmarshal(offer.Payload, &p); err != nil {
		return fmt.Errorf("peer's offer: %w", err)
	}
	var err error
	if s.audio, err = openAudio(m); err != nil {
		return err
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
	s.outbox.put(c.signal(directory.SignalAnswer, sdpPayload{SDP: sdp.SDP}))
	return nil
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
	sdp, err := s.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: true})
	if err != nil {
		return fmt.Errorf("create restart offer: %w", err)
	}
	if err := s.pc.SetLocalDescription(sdp); err != nil {
		return fmt.Errorf("set local restart offer: %w", err)
	}
	c.stats.ICERestarts++
	c.log.Info("path lost: restarting ICE", "ice_restarts", c.stats.ICERestarts)
	s.outbox.put(c.signal(directory.SignalOffer, sdpPayload{SDP: sdp.SDP}))
	return nil
}

// answerRestart answers the caller's ICE restart offer.
func (c *Call) answerRestart(s *session, sig directory.Signal) error {
	var p sdpPayload
	if err := json.Unmarshal(sig.Payload, &p); err != nil {
		return fmt.Errorf("peer's restart offer: %w", err)
	}
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
	s.outbox.put(c.signal(directory.SignalAnswer, sdpPayload{SDP: sdp.SDP}))
	return nil
}

// maxPendingCandidates bounds what a peer can make us hold before the call
// is answered.
const maxPendingCandidates = 64

func (c *Call) addRemoteCandidate(s *session, cand webrtc.ICECandidateInit) {
	if !s.remoteSet {
		if len(s.pendingRemote) < maxPendingCandidates {
			s.pendingRemote = append(s.pendingRemote, cand)
		}
		return
	}
	if err := s.pc.AddICECandidate(cand); err != nil {
		c.log.Warn("peer's candidate", "err", err)
	}
}

// startMedia starts sending and playing out when the path is up.
func (c *Call) startMedia(s *session) {
	s.mediaStart = time.Now()
	c.stats.SetupMS = durationMS(s.mediaStart.Sub(c.stats.Start))
	c.samplePath(s)
	close(c.active)
	c.log.Info("call connected", "setup_ms", c.stats.SetupMS, "path", c.stats.Path)
	s.mediaCtx, s.stopMedia = context.WithCancel(context.Background())
	if s.audio != nil {
		c.goMedia(s, "send", func(ctx context.Context) error { return s.audio.sender.Run(ctx, s.track) })
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

// finish stops the media, closes the PeerConnection and fixes the stats.
func (c *Call) finish(s *session, reason EndReason, err error) {
	c.stats.EndReason = reason
	if s.connected {
		c.stats.DurationS = time.Since(s.mediaStart).Seconds()
	}
	if s.stopMedia != nil {
		s.stopMedia()
	}
	if s.pc != nil {
		if cerr := s.pc.Close(); cerr != nil {
			c.log.Debug("close peer connection", "err", cerr)
		}
	}
	s.mediaWG.Wait()
	if s.audio != nil {
		c.stats.fillMedia(s.audio.sender, s.audio.receiver)
	}
	if cerr := s.audio.close(); cerr != nil {
		c.log.Warn("close speaker", "err", cerr)
	}
	if !reason.completed() {
		c.err = &EndError{Reason: reason, Err: err}
	}
	c.log.Info("call ended", "reason", reason, "duration_s", c.stats.DurationS)
}

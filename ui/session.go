package ui

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/parley-voip/parley/call"
	"github.com/parley-voip/parley/directory"
	"github.com/parley-voip/parley/directory/identity"
	"github.com/parley-voip/parley/media"
)

// Session is the Backend of a logged-in user: their directory client and
// the phone that rings on it.
type Session struct {
	client      *directory.Client
	phone       *call.Phone
	log         *slog.Logger
	pins        *call.Pins
	home        string
	fingerprint string
	incoming    chan Call
	chats       chan directory.Chat
	callChats   chan directory.Chat // from CallEvent, for chatRunLoop

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// mu guards media, the devices and processing of the calls to come.
	mu    sync.Mutex
	media call.MediaConfig
}

// SessionConfig says what a Session wraps.
type SessionConfig struct {
	Client   *directory.Client // logged in
	Phone    *call.Phone       // ringing on Client
	Media    call.MediaConfig  // the devices of calls until SetDevices
	Home     string            // $PARLEY_HOME: pinned keys and history; "" → none
	Identity *identity.Identity
	Logger   *slog.Logger // nil → slog.Default()
}

// NewSession wraps a logged-in client and its phone. Close stops it (not
// them).
func NewSession(cfg SessionConfig) *Session {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Session{
		client:      cfg.Client,
		phone:       cfg.Phone,
		log:         cfg.Logger,
		pins:        call.OpenPins(cfg.Home),
		home:        cfg.Home,
		fingerprint: cfg.Identity.Fingerprint(),
		incoming:    make(chan Call),
		chats:       make(chan directory.Chat),
		callChats:   make(chan directory.Chat),
		ctx:         ctx,
		cancel:      cancel,
		media:       cfg.Media,
	}
	s.wg.Add(2)
	go s.forwardRunLoop(ctx)
	go s.chatRunLoop(ctx)
	return s
}

// pass hands each value from in to out, converted, until ctx ends or the
// directory session does, and then closes out.
func pass[T, U any](ctx context.Context, done <-chan struct{}, in <-chan T, out chan<- U, conv func(T) U) {
	defer close(out)
	for {
		select {
		case <-ctx.Done():
			return
		case <-done:
			return
		case v, ok := <-in:
			if !ok {
				return
			}
			select {
			case out <- conv(v):
			case <-ctx.Done():
				return
			}
		}
	}
}

// forwardRunLoop hands the phone's ringing calls to the UI as Calls. One
// the UI never took rings on until its timeout, as missed.
func (s *Session) forwardRunLoop(ctx context.Context) {
	defer s.wg.Done()
	pass(ctx, s.client.Done(), s.phone.Incoming(), s.incoming,
		func(c *call.Call) Call { return sessionCall{c, s} })
}

// chatRunLoop hands chat messages to the UI: those the directory pushes,
// each acknowledged once taken so that the directory forgets it (one not
// taken stays for the next login's Inbox), and those that come over a
// call (CallEvent).
func (s *Session) chatRunLoop(ctx context.Context) {
	defer s.wg.Done()
	defer close(s.chats)
	hand := func(c directory.Chat) bool {
		select {
		case s.chats <- c:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.client.Done():
			return
		case c := <-s.callChats:
			if !hand(c) {
				return
			}
		case c, ok := <-s.client.Chats():
			if !ok || !hand(c) {
				return
			}
			actx, cancel := context.WithTimeout(ctx, ackTimeout)
			if err := s.client.AckChats(actx, c.ID); err != nil {
				s.log.Warn("acknowledge chat", "from", c.From, "err", err)
			}
			cancel()
		}
	}
}

// CallEvent is the phone's OnEvent: it hands the messages a peer sends
// over a call (call.EventChat) to the UI with those from the directory,
// in their order, and ignores the rest.
func (s *Session) CallEvent(ev call.Event) {
	if ev.Event != call.EventChat {
		return
	}
	select {
	case s.callChats <- directory.Chat{From: ev.Peer, To: s.client.User(), Text: ev.Message, Sent: ev.Time}:
	case <-s.ctx.Done():
	}
}

// ackTimeout bounds acknowledging a chat message.
const ackTimeout = 5 * time.Second

// SendChat sends text to the contact to, through the directory.
func (s *Session) SendChat(ctx context.Context, to, text string) error {
	return s.client.SendChat(ctx, to, text)
}

// Inbox takes the messages the directory kept for this user, every page
// of them, acknowledging each page.
func (s *Session) Inbox(ctx context.Context) ([]directory.Chat, error) {
	var all []directory.Chat
	err := s.client.TakeInbox(ctx, func(page []directory.Chat) { all = append(all, page...) })
	return all, err
}

// Chats returns the messages pushed while the UI runs.
func (s *Session) Chats() <-chan directory.Chat { return s.chats }

// Close stops forwarding calls and messages.
func (s *Session) Close() {
	s.cancel()
	s.wg.Wait()
}

// User returns the username.
func (s *Session) User() string { return s.client.User() }

// Fingerprint returns the user's key fingerprint.
func (s *Session) Fingerprint() string { return s.fingerprint }

// Contacts returns the contact list.
func (s *Session) Contacts(ctx context.Context) ([]directory.Contact, error) {
	return s.client.Contacts(ctx)
}

// Contact carries out action on the contact with peer.
func (s *Session) Contact(ctx context.Context, action directory.ContactAction, peer, message string) error {
	return s.client.Contact(ctx, action, peer, message)
}

// SetStatus sets the user's presence and note.
func (s *Session) SetStatus(ctx context.Context, status, note string) error {
	return s.client.SetStatus(ctx, status, note)
}

// sessionCall is a call of the session: answered with the session's
// devices of the moment, its front end's meter and device switching at
// hand.
type sessionCall struct {
	*call.Call
	s *Session
}

// Answer takes the call with the session's devices.
func (c sessionCall) Answer() { c.AnswerWith(c.s.devices()) }

// Meter returns the levels of the call's sound.
func (c sessionCall) Meter() (media.Meter, bool) {
	fe := c.FrontEnd()
	if fe == nil {
		return media.Meter{}, false
	}
	return fe.Meter(), true
}

// SwitchDevices moves the call to other devices.
func (c sessionCall) SwitchDevices(mic, speaker string) error {
	fe := c.FrontEnd()
	if fe == nil {
		return errors.New("the call has no sound devices open")
	}
	if mic != "" {
		if err := fe.SetMic(mic); err != nil {
			return err
		}
	}
	if speaker != "" {
		return fe.SetSpeaker(speaker)
	}
	return nil
}

// SetAudio applies a to the call's front end.
func (c sessionCall) SetAudio(a media.AudioSettings) error {
	fe := c.FrontEnd()
	if fe == nil {
		return errors.New("the call has no sound devices open")
	}
	if err := fe.SetProcessing(a.AEC, a.NS, a.AGC); err != nil {
		return err
	}
	fe.SetMicGain(a.MicGainDB)
	fe.SetSpeakerVolume(a.SpeakerVolumeDB)
	return nil
}

// SetAudio sets the processing and levels of the calls to come.
func (s *Session) SetAudio(a media.AudioSettings) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.media.Audio = a
}

// SetDevices sets the microphone and speaker of the calls to come.
func (s *Session) SetDevices(mic, speaker string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.media.Mic, s.media.Speaker = mic, speaker
}

func (s *Session) devices() call.MediaConfig {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.media
}

// OwnStatus asks the directory for the user's own presence, which it
// keeps across sessions; invisible is the one that shows as offline.
func (s *Session) OwnStatus(ctx context.Context) (status, note string, err error) {
	p, err := s.client.Lookup(ctx, s.client.User())
	if err != nil {
		return "", "", err
	}
	if p.Status == directory.StatusOffline {
		return directory.StatusInvisible, p.Note, nil
	}
	return p.Status, p.Note, nil
}

// Dial calls peer.
func (s *Session) Dial(ctx context.Context, peer string) (Call, error) {
	m := s.devices()
	c, err := s.phone.Dial(ctx, peer, call.DialOptions{Media: &m})
	if err != nil {
		return nil, err
	}
	return sessionCall{c, s}, nil
}

// PeerFingerprint returns the fingerprint of the key pinned for peer.
func (s *Session) PeerFingerprint(peer string) string {
	pins, err := s.pins.All()
	if pin, ok := pins[peer]; err == nil && ok {
		return identity.Fingerprint(pin.Key)
	}
	return ""
}

// History returns the calls recorded in the user's home, oldest first.
func (s *Session) History(context.Context) ([]call.HistoryRecord, error) {
	if s.home == "" {
		return nil, nil // a phone without a home records none
	}
	return call.ReadHistory(s.home)
}

// ContactUpdates returns changes to the contact list.
func (s *Session) ContactUpdates() <-chan directory.Contact { return s.client.ContactUpdates() }

// PresenceUpdates returns contacts' presence changes.
func (s *Session) PresenceUpdates() <-chan directory.Presence { return s.client.PresenceUpdates() }

// Incoming returns calls ringing here.
func (s *Session) Incoming() <-chan Call { return s.incoming }

// Reconnecting reports whether the directory client is logging in again.
func (s *Session) Reconnecting() bool { return s.client.Reconnecting() }

// Done is closed when the directory session has ended for good.
func (s *Session) Done() <-chan struct{} { return s.client.Done() }

// Err says why the session ended.
func (s *Session) Err() error { return s.client.Err() }

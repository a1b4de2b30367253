package ui

import (
	"context"

	"github.com/parley-voip/parley/call"
	"github.com/parley-voip/parley/directory"
	"github.com/parley-voip/parley/media"
)

// Backend is what the UI drives: one logged-in user's directory session and
// phone. Its methods may block on the network; the UI calls them only from
// commands, off its own goroutine.
type Backend interface {
	User() string
	// Fingerprint is the user's key fingerprint, to read aloud.
	Fingerprint() string
	Contacts(ctx context.Context) ([]directory.Contact, error)
	Contact(ctx context.Context, action directory.ContactAction, peer, message string) error
	SetStatus(ctx context.Context, status, note string) error
	// OwnStatus returns the status and note the directory kept from the
	// user's last session.
	OwnStatus(ctx context.Context) (status, note string, err error)
	Dial(ctx context.Context, peer string) (Call, error)
	// SetDevices sets the microphone and speaker (media.OpenSource and
	// media.OpenSink specs) of the calls to come.
	SetDevices(mic, speaker string)
	// SetAudio sets the processing and levels of the calls to come.
	SetAudio(media.AudioSettings)
	// PeerFingerprint is the fingerprint of the key pinned for peer, ""
	// when none is.
	PeerFingerprint(peer string) string
	// SendChat sends a text message to a contact; Inbox returns (and
	// takes) those that came while the user was away, and Chats those that
	// come while the UI runs, through the directory or over a call.
	SendChat(ctx context.Context, to, text string) error
	Inbox(ctx context.Context) ([]directory.Chat, error)
	Chats() <-chan directory.Chat
	// History returns the calls made and taken here, oldest first.
	History(ctx context.Context) ([]call.HistoryRecord, error)

	// ContactUpdates, PresenceUpdates and Incoming deliver what happens
	// while the UI runs; they are closed when the session ends.
	ContactUpdates() <-chan directory.Contact
	PresenceUpdates() <-chan directory.Presence
	Incoming() <-chan Call
	// Reconnecting reports whether the directory connection is lost and
	// being made again; requests fail meanwhile.
	Reconnecting() bool
	// Done is closed when the session has ended for good; Err says why.
	Done() <-chan struct{}
	Err() error
}

// Call is one call as the UI sees it: the part of *call.Call it uses.
type Call interface {
	Peer() string
	Direction() call.Direction
	Answer()
	Reject()
	Hangup()
	Hold()
	Resume()
	Mute()
	Unmute()
	Active() <-chan struct{}
	Done() <-chan struct{}
	Result() (call.Stats, error)
	// LiveStats returns the call's figures so far; Status its state, hold,
	// mute and SAS.
	LiveStats() call.Stats
	Status() call.Status
	// Meter returns the sound's levels now; ok is false while the call
	// has no sound devices of its own open.
	Meter() (m media.Meter, ok bool)
	// SwitchDevices moves the running call to another microphone and
	// speaker (media specs; "" keeps one).
	SwitchDevices(mic, speaker string) error
	// SetAudio changes the running call's processing and levels.
	SetAudio(media.AudioSettings) error
	// Chat sends text to the peer over the call; call.ErrNoChat if the
	// call's chat channel is not open.
	Chat(text string) error
}

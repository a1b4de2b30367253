package directory

import (
	"encoding/json"
	"time"

	"github.com/parley-voip/parley/directory/internal/wire"
)

// SignalKind says what a Signal carries.
type SignalKind string

// The signal kinds the directory relays.
const (
	SignalOffer     SignalKind = wire.KindOffer
	SignalAnswer    SignalKind = wire.KindAnswer
	SignalCandidate SignalKind = wire.KindCandidate
	SignalRinging   SignalKind = wire.KindRinging
	SignalAccept    SignalKind = wire.KindAccept
	SignalReject    SignalKind = wire.KindReject
	SignalBusy      SignalKind = wire.KindBusy
	SignalHangup    SignalKind = wire.KindHangup
)

// Signal is one call-signalling message relayed by the directory.
type Signal struct {
	From    string // set by the directory to the sender's username; ignored by Send
	To      string
	CallID  string // 1-64 of A-Z a-z 0-9 . _ -, chosen by the caller
	Kind    SignalKind
	Payload json.RawMessage // any JSON value, opaque to the directory; may be empty
}

// Presence statuses. A user may set online, away, busy or invisible;
// others see an invisible user as offline.
const (
	StatusOnline    = wire.StatusOnline
	StatusAway      = wire.StatusAway
	StatusBusy      = wire.StatusBusy
	StatusInvisible = wire.StatusInvisible
	StatusOffline   = wire.StatusOffline
)

// Presence is a user's existence and status as the directory shows it to
// the asking user: strangers see offline unless the user takes calls from
// anyone.
type Presence struct {
	User   string
	Exists bool   // reports whether the username is registered
	Status string // StatusOnline, StatusAway, StatusBusy or StatusOffline
	Note   string // the user's status note, up to 140 characters
}

// ContactAction is what a user does to a contact (Client.Contact).
type ContactAction string

// Contact actions.
const (
	ContactAdd     ContactAction = wire.ActionAdd     // ask to become contacts (with an optional message)
	ContactAccept  ContactAction = wire.ActionAccept  // accept an incoming request
	ContactDecline ContactAction = wire.ActionDecline // decline an incoming request
	ContactBlock   ContactAction = wire.ActionBlock   // block: they see nothing of you and cannot call you
	ContactRemove  ContactAction = wire.ActionRemove  // remove the contact (and lift a block)
)

// Contact states, as the owner of a contact list sees each entry.
const (
	ContactIncoming = wire.ContactIncoming // they asked you; you have not answered
	ContactOutgoing = wire.ContactOutgoing // you asked them; no answer (yet)
	ContactAccepted = wire.ContactAccepted // both agreed: presence and calls
	ContactDeclined = wire.ContactDeclined // they declined your request
	ContactBlocked  = wire.ContactBlocked  // you blocked them
	ContactNone     = wire.ContactNone     // (updates only) the entry was removed
)

// Contact is one entry of a user's contact list. Status, Note and LastSeen
// are filled for accepted contacts in Client.Contacts.
type Contact struct {
	User     string    `json:"user"`
	State    string    `json:"state"`
	Message  string    `json:"message,omitempty"`
	Status   string    `json:"status,omitempty"`
	Note     string    `json:"note,omitempty"`
	LastSeen time.Time `json:"last_seen,omitzero"`
}

// Who may call a user and see their presence (ClientConfig.CallsFrom).
const (
	CallsFromContacts = wire.CallsFromContacts
	CallsFromAnyone   = wire.CallsFromAnyone
)

// ValidUsername reports whether name is a well-formed username:
// ^[a-z0-9][a-z0-9._-]{2,31}$.
func ValidUsername(name string) bool { return wire.ValidUsername(name) }

package directory

import (
	"encoding/json"

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

// Presence statuses.
const (
	StatusOnline  = wire.StatusOnline
	StatusOffline = wire.StatusOffline
)

// Presence is a user's existence and status as the directory sees it.
type Presence struct {
	User   string
	Exists bool   // reports whether the username is registered
	Status string // StatusOnline or StatusOffline (later: away, busy)
}

// ValidUsername reports whether name is a well-formed username:
// ^[a-z0-9][a-z0-9._-]{2,31}$.
func ValidUsername(name string) bool { return wire.ValidUsername(name) }

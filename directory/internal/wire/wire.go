// Package wire is the directory protocol's message layer: the JSON frames
// exchanged over the /v1/ws WebSocket, their decoding and validation, and the
// login message a client signs. docs/protocol.md is the specification in
// prose; this package is its executable form, shared by server and client.
//
// Every frame is one JSON object in one WebSocket text message with "v"
// (the protocol version, 1) and "type". Requests (client to server) carry an
// "id" that the server's answer echoes. The server decodes strictly
// (DecodeRequest); the client decodes leniently (DecodeEvent) so that a
// server may add fields within version 1.
package wire

import (
	"bytes"
	"encoding/json"
	"regexp"
	"unicode"
	"unicode/utf8"
)

// Version is the protocol version this package speaks, carried in every frame's "v".
const Version = 1

// Path is where a directory serves the WebSocket.
const Path = "/v1/ws"

// DefaultMaxMessageBytes is the default limit on one frame from a client.
const DefaultMaxMessageBytes = 64 << 10

// EnvelopeSlack bounds how much larger than the client frame limit a server
// frame can be: a relayed signal gains a "from" field.
const EnvelopeSlack = 1 << 10

// NonceSize is the length of the hello nonce a client signs at login.
const NonceSize = 32

// Frame types ("type").
const (
	TypeHello        = "hello"
	TypeLogin        = "login"
	TypeOK           = "ok"
	TypeError        = "error"
	TypeLookup       = "lookup"
	TypeLookupResult = "lookup-result"
	TypeSignal       = "signal"
	TypePresence     = "presence"
	TypePing         = "ping"
	TypePong         = "pong"
	TypeContact      = "contact"  // request: act on a contact; push: a contact changed
	TypeContacts     = "contacts" // request: the contact list
	TypeContactsList = "contacts-result"
	TypeStatus       = "status" // request: set one's presence status and note
)

// Error codes carried by error frames.
const (
	CodeBadRequest      = "bad-request"     // malformed frame: not JSON, unknown or missing field, wrong type
	CodeBadVersion      = "bad-version"     // "v" is not Version
	CodeUnknownType     = "unknown-type"    // "type" is not a request this server knows
	CodeUnauthenticated = "unauthenticated" // anything but login before login
	CodeBadUsername     = "bad-username"    // a username field does not match the username syntax
	CodeBadSignature    = "bad-signature"   // the login signature does not verify
	CodeNameTaken       = "name-taken"      // the username belongs to another key
	CodeNoSuchUser      = "no-such-user"    // the addressed user has no account
	CodeOffline         = "offline"         // the addressed user has no session
	CodeTooLarge        = "too-large"       // the frame exceeds the limit; the server then closes
	CodeRateLimited     = "rate-limited"    // too many requests, or the recipient does not keep up; slow down
	CodeInternal        = "internal"        // the server failed (storage); retrying may help
)

// Signal kinds ("kind" of a signal frame).
const (
	KindOffer     = "offer"
	KindAnswer    = "answer"
	KindCandidate = "candidate"
	KindRinging   = "ringing"
	KindAccept    = "accept"
	KindReject    = "reject"
	KindBusy      = "busy"
	KindHangup    = "hangup"
)

// Presence statuses. Invisible is only ever set: others see it as offline.
const (
	StatusOnline    = "online"
	StatusAway      = "away"
	StatusBusy      = "busy"
	StatusInvisible = "invisible"
	StatusOffline   = "offline"
)

// Contact actions ("action" of a contact request).
const (
	ActionAdd     = "add"
	ActionAccept  = "accept"
	ActionDecline = "decline"
	ActionBlock   = "block"
	ActionRemove  = "remove"
)

// Contact states, as the owner of a contact list sees each entry.
const (
	ContactIncoming = "incoming" // they asked me; I have not answered
	ContactOutgoing = "outgoing" // I asked them; no answer (yet)
	ContactAccepted = "accepted" // both agreed: presence and calls
	ContactDeclined = "declined" // they declined my request
	ContactBlocked  = "blocked"  // I blocked them
	ContactNone     = "none"     // (pushes only) the entry was removed
)

// CallsFromAnyone is the login's calls_from value that lets strangers call
// and see one's presence; the default is contacts only.
const (
	CallsFromContacts = "contacts"
	CallsFromAnyone   = "anyone"
)

// MaxTextRunes bounds a status note and a contact request's message.
const MaxTextRunes = 140

// Header is the part every frame shares. Encode fills V and Type.
type Header struct {
	V    int    `json:"v"`
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`
}

func (h *Header) head() *Header { return h }

// Message is a frame of the protocol: one of the types below.
type Message interface{ head() *Header }

// RequestID returns the id of m, "" if it has none.
func RequestID(m Message) string { return m.head().ID }

// FrameType returns the "type" of a decoded frame.
func FrameType(m Message) string { return m.head().Type }

// Hello is the server's first frame on every connection.
type Hello struct {
	Header
	Nonce    []byte `json:"nonce"`     // NonceSize random bytes, base64
	MaxBytes int    `json:"max_bytes"` // the server's limit on one client frame
}

// Login proves ownership of Key by signing LoginMessage(nonce, User) with it.
type Login struct {
	Header
	User string `json:"user"`
	Key  []byte `json:"key"` // Ed25519 public key, base64
	Sig  []byte `json:"sig"` // Ed25519 signature, base64
	// Control makes this a control session: it neither takes over the user's
	// session nor receives signals or pushes, and does not count for
	// presence. Command-line tools managing contacts and status use one.
	Control bool `json:"control,omitempty"`
	// CallsFrom is CallsFromContacts (default) or CallsFromAnyone.
	CallsFrom string `json:"calls_from,omitempty"`
	// AutoAccept accepts every contact request at once (the echo service).
	AutoAccept bool `json:"auto_accept,omitempty"`
	// Device names the user's device (1-64 of A-Z a-z 0-9 . _ -): a newer
	// login of the same device takes its session over; sessions of other
	// devices stay beside it.
	Device string `json:"device,omitempty"`
}

// OK acknowledges a login or a signal.
type OK struct{ Header }

// Error reports why a request failed; ID is empty when the request had no
// usable id. It implements error so decoders can return it ready to send.
type Error struct {
	Header
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error returns the code and message of the frame.
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Lookup asks for a user's existence and presence, and subscribes the asking
// session to that user's presence changes.
type Lookup struct {
	Header
	User string `json:"user"`
}

// LookupResult answers a Lookup.
type LookupResult struct {
	Header
	User   string `json:"user"`
	Exists bool   `json:"exists"`
	Status string `json:"status"`
	Note   string `json:"note,omitempty"`
}

// Signal carries call signalling. From is empty in a request (the server sets
// it from the session) and names the sender in a relayed signal.
type Signal struct {
	Header
	From    string          `json:"from,omitempty"`
	To      string          `json:"to"`
	CallID  string          `json:"call_id"`
	Kind    string          `json:"kind"`
	Payload json.RawMessage `json:"payload,omitempty"` // opaque to the directory
}

// Presence is pushed when an accepted contact's status or note changes.
type Presence struct {
	Header
	User   string `json:"user"`
	Status string `json:"status"`
	Note   string `json:"note,omitempty"`
}

// ContactRequest acts on the sender's contact with User.
type ContactRequest struct {
	Header
	User    string `json:"user"`
	Action  string `json:"action"`
	Message string `json:"message,omitempty"` // add only
}

// Contact is pushed when an entry of the session's contact list changes.
type Contact struct {
	Header
	User    string `json:"user"`
	State   string `json:"state"`
	Message string `json:"message,omitempty"`
}

// ContactsRequest asks for the sender's contact list.
type ContactsRequest struct{ Header }

// ContactsResult answers a ContactsRequest.
type ContactsResult struct {
	Header
	Contacts []ContactEntry `json:"contacts"`
}

// ContactEntry is one contact in a ContactsResult. Status, Note and
// LastSeen are set for accepted contacts only.
type ContactEntry struct {
	User     string `json:"user"`
	State    string `json:"state"`
	Message  string `json:"message,omitempty"`
	Status   string `json:"status,omitempty"`
	Note     string `json:"note,omitempty"`
	LastSeen string `json:"last_seen,omitempty"` // RFC 3339, when offline and known
}

// SetStatus sets the sender's presence status and note, for every session
// of the user, and keeps them for the next login.
type SetStatus struct {
	Header
	Status string `json:"status"` // online, away, busy or invisible
	Note   string `json:"note,omitempty"`
}

// Ping asks for a Pong, for clients that cannot send WebSocket pings.
type Ping struct{ Header }

// Pong answers a Ping.
type Pong struct{ Header }

// Encode returns m as one frame, setting its V and Type.
func Encode(m Message) ([]byte, error) {
	h := m.head()
	h.V = Version
	h.Type = typeOf(m)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Payloads are relayed byte for byte as compacted JSON; escaping them
	// would change them (and grow them past the size the client checked).
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func typeOf(m Message) string {
	switch m.(type) {
	case *Hello:
		return TypeHello
	case *Login:
		return TypeLogin
	case *OK:
		return TypeOK
	case *Error:
		return TypeError
	case *Lookup:
		return TypeLookup
	case *LookupResult:
		return TypeLookupResult
	case *Signal:
		return TypeSignal
	case *Presence:
		return TypePresence
	case *Ping:
		return TypePing
	case *Pong:
		return TypePong
	case *ContactRequest, *Contact:
		return TypeContact
	case *ContactsRequest:
		return TypeContacts
	case *ContactsResult:
		return TypeContactsList
	case *SetStatus:
		return TypeStatus
	case *ICERequest:
		return TypeICE
	case *ICEResult:
		return TypeICEResult
	case *Relay:
		return TypeRelay
	case *Chat:
		return TypeChat
	case *InboxRequest:
		return TypeInbox
	case *InboxResult:
		return TypeInboxResult
	case *InboxAck:
		return TypeInboxAck
	}
	panic("wire: unknown message type")
}

// loginContext separates login signatures from anything else a Parley key signs.
const loginContext = "parley directory login v1\x00"

// LoginMessage returns the bytes a client signs to log in: a context string,
// the connection's nonce and the username. The nonce has a fixed size, so the
// concatenation is unambiguous; a signature cannot be replayed on another
// connection, for another name or in another protocol using the same key.
func LoginMessage(nonce []byte, user string) []byte {
	msg := make([]byte, 0, len(loginContext)+len(nonce)+len(user))
	msg = append(msg, loginContext...)
	msg = append(msg, nonce...)
	return append(msg, user...)
}

var usernamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{2,31}$`)

// ValidUsername reports whether name is a well-formed username.
func ValidUsername(name string) bool { return usernamePattern.MatchString(name) }

var tokenPattern = regexp.MustCompile(`^[\x21-\x7e]{1,64}$`)

// ValidID reports whether id can be a request id: 1–64 printable ASCII characters.
func ValidID(id string) bool { return tokenPattern.MatchString(id) }

var callIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// ValidCallID reports whether id can be a call id: 1–64 of A–Z a–z 0–9 . _ -.
func ValidCallID(id string) bool { return callIDPattern.MatchString(id) }

// ValidText reports whether s can be a note or a request message: valid
// UTF-8, at most MaxTextRunes characters, no control characters.
func ValidText(s string) bool {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > MaxTextRunes {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// ValidSettableStatus reports whether status can be set by a user.
func ValidSettableStatus(status string) bool {
	switch status {
	case StatusOnline, StatusAway, StatusBusy, StatusInvisible:
		return true
	}
	return false
}

// ValidKind reports whether kind is a signal kind.
func ValidKind(kind string) bool {
	switch kind {
	case KindOffer, KindAnswer, KindCandidate, KindRinging, KindAccept, KindReject, KindBusy, KindHangup:
		return true
	}
	return false
}

// normalizePayload compacts an opaque payload and treats JSON null as absent,
// so that a payload has one encoding whatever whitespace the sender used.
func normalizePayload(p json.RawMessage) (json.RawMessage, error) {
	if len(p) == 0 || string(p) == "null" {
		return nil, nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, p); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

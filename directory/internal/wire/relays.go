package wire

import (
	"encoding/json"
	"errors"
	"strings"
)

// Frame types of relays: a client asks for its ICE servers; a volunteer
// relay registers (and heartbeats) through its user's session.
const (
	TypeICE       = "ice"
	TypeICEResult = "ice-result"
	TypeRelay     = "relay"
)

// CodeUnreachable: a volunteer relay the directory could not reach.
const CodeUnreachable = "unreachable"

// Who a volunteer relay serves (Relay.RelayFor).
const (
	RelayForContacts = "contacts"
	RelayForAnyone   = "anyone"
)

// Limits on a relay registration.
const (
	MaxRelayURLs      = 8
	MaxRelayURLLength = 256
	MinSecretLength   = 16
	MaxSecretLength   = 128
)

// ICERequest asks for the ICE servers of the sender's next calls.
type ICERequest struct{ Header }

// ICEResult answers an ICERequest: STUN and TURN servers, best first,
// with TURN REST credentials valid for TTLSeconds.
type ICEResult struct {
	Header
	Servers    []ICEServer `json:"servers"`
	TTLSeconds int         `json:"ttl_s"`
}

// ICEServer is one relay's URLs and credentials, as WebRTC's
// RTCIceServer: the credentials go with every turn: and turns: URL.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// Relay registers the sender's volunteer relay, or renews its
// registration: it must come again within the registration's life.
type Relay struct {
	Header
	URLs     []string `json:"urls"`
	Secret   string   `json:"secret"`   // TURN REST secret the relay checks credentials with
	Capacity int      `json:"capacity"` // allocations it takes; 0: no limit
	Load     int      `json:"load"`     // allocations it holds now
	RelayFor string   `json:"relay_for,omitempty"`
}

// CheckRelayFields checks what a relay registration says about itself
// (shared by volunteers' frames and operator supernodes' HTTP requests).
func CheckRelayFields(urls []string, secret string, capacity, load int) error {
	if len(urls) == 0 || len(urls) > MaxRelayURLs {
		return errors.New(`field "urls" must hold 1-8 URLs`)
	}
	for _, u := range urls {
		scheme, _, _ := strings.Cut(u, ":")
		switch {
		case len(u) > MaxRelayURLLength || !printable(u):
			return errors.New(`field "urls": each at most 256 printable ASCII characters`)
		case scheme != "stun" && scheme != "turn" && scheme != "turns":
			return errors.New(`field "urls": each a stun:, turn: or turns: URL`)
		}
	}
	if secret != "" && !ValidSecret(secret) {
		return errors.New(`field "secret" must be 16-128 printable ASCII characters`)
	}
	if capacity < 0 || load < 0 {
		return errors.New(`fields "capacity" and "load" must be 0 or more`)
	}
	return nil
}

// ValidSecret reports whether s can be a relay's TURN REST secret:
// MinSecretLength to MaxSecretLength printable ASCII characters.
func ValidSecret(s string) bool {
	return len(s) >= MinSecretLength && len(s) <= MaxSecretLength && printable(s)
}

// printable reports whether s is all printable ASCII (0x21-0x7E).
func printable(s string) bool {
	for i := range len(s) {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// decodeRelayRequest decodes the request types of relays (TypeICE,
// TypeRelay).
func decodeRelayRequest(h Header, fields map[string]json.RawMessage) (Message, error) {
	id := h.ID
	if h.Type == TypeICE {
		if err := decodeFields(fields, nil); err != nil {
			return nil, fail(id, CodeBadRequest, "%s: %v", h.Type, err)
		}
		return &ICERequest{Header: h}, nil
	}
	m := &Relay{Header: h}
	targets := map[string]any{"urls": &m.URLs, "secret": &m.Secret, "capacity": &m.Capacity, "load": &m.Load, "relay_for": &m.RelayFor}
	if err := decodeFields(fields, targets); err != nil {
		return nil, fail(id, CodeBadRequest, "%s: %v", h.Type, err)
	}
	if m.Secret == "" {
		return nil, fail(id, CodeBadRequest, `missing field "secret"`)
	}
	if err := CheckRelayFields(m.URLs, m.Secret, m.Capacity, m.Load); err != nil {
		return nil, fail(id, CodeBadRequest, "%s: %v", h.Type, err)
	}
	switch m.RelayFor {
	case "", RelayForContacts, RelayForAnyone:
	default:
		return nil, fail(id, CodeBadRequest, `field "relay_for" must be "contacts" or "anyone"`)
	}
	return m, nil
}

// check validates an ICEResult from the server.
func (m *ICEResult) check() error {
	if m.ID == "" {
		return errors.New("missing id")
	}
	for _, s := range m.Servers {
		if len(s.URLs) == 0 {
			return errors.New("server without URLs")
		}
	}
	if m.TTLSeconds < 0 {
		return errors.New("negative ttl_s")
	}
	return nil
}

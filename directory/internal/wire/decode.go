package wire

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// DecodeRequest decodes and validates one frame from a client. It is strict:
// the frame must be a single JSON object whose keys match the request's
// fields exactly (case included), with no duplicates, every required field
// present and valid. On failure the error is an *Error ready to send, its ID
// set when the frame carried a valid one.
func DecodeRequest(data []byte) (Message, error) {
	fields, err := scanObject(data)
	if err != nil {
		return nil, fail("", CodeBadRequest, "%v", err)
	}

	var id string
	if raw, ok := fields["id"]; ok {
		if json.Unmarshal(raw, &id) != nil || !ValidID(id) {
			return nil, fail("", CodeBadRequest, `field "id" must be a string of 1-64 printable ASCII characters`)
		}
	}
	version, ok := fields["v"]
	if !ok {
		return nil, fail(id, CodeBadRequest, `missing field "v"`)
	}
	var v int
	if json.Unmarshal(version, &v) != nil {
		return nil, fail(id, CodeBadRequest, `field "v" must be an integer`)
	}
	if v != Version {
		return nil, fail(id, CodeBadVersion, "unsupported protocol version %d; this server speaks %d", v, Version)
	}
	var typ string
	if raw, ok := fields["type"]; !ok || json.Unmarshal(raw, &typ) != nil || typ == "" {
		return nil, fail(id, CodeBadRequest, `field "type" must be a non-empty string`)
	}
	if id == "" {
		return nil, fail("", CodeBadRequest, `missing field "id"`)
	}

	h := Header{V: v, Type: typ, ID: id}
	switch typ {
	case TypeLogin:
		m := &Login{Header: h}
		var key, sig string
		targets := map[string]any{"user": &m.User, "key": &key, "sig": &sig, "control": &m.Control, "calls_from": &m.CallsFrom, "auto_accept": &m.AutoAccept, "device": &m.Device}
		if err := decodeFields(fields, targets); err != nil {
			return nil, fail(id, CodeBadRequest, "%s: %v", typ, err)
		}
		if err := checkUsername(id, "user", m.User); err != nil {
			return nil, err
		}
		if m.Key, err = decodeBase64(id, "key", key, 32, "an Ed25519 public key"); err != nil {
			return nil, err
		}
		if m.Sig, err = decodeBase64(id, "sig", sig, 64, "an Ed25519 signature"); err != nil {
			return nil, err
		}
		switch m.CallsFrom {
		case "", CallsFromContacts, CallsFromAnyone:
		default:
			return nil, fail(id, CodeBadRequest, `field "calls_from" must be "contacts" or "anyone"`)
		}
		if m.Device != "" && !ValidCallID(m.Device) {
			return nil, fail(id, CodeBadRequest, `field "device" must be 1-64 of A-Z a-z 0-9 . _ -`)
		}
		return m, nil
	case TypeLookup:
		m := &Lookup{Header: h}
		if err := decodeFields(fields, map[string]any{"user": &m.User}); err != nil {
			return nil, fail(id, CodeBadRequest, "%s: %v", typ, err)
		}
		if err := checkUsername(id, "user", m.User); err != nil {
			return nil, err
		}
		return m, nil
	case TypeSignal:
		m := &Signal{Header: h}
		targets := map[string]any{"from": &m.From, "to": &m.To, "call_id": &m.CallID, "kind": &m.Kind, "payload": &m.Payload}
		if err := decodeFields(fields, targets); err != nil {
			return nil, fail(id, CodeBadRequest, "%s: %v", typ, err)
		}
		if err := m.checkRequest(); err != nil {
			return nil, err
		}
		return m, nil
	case TypeContact:
		m := &ContactRequest{Header: h}
		if err := decodeFields(fields, map[string]any{"user": &m.User, "action": &m.Action, "message": &m.Message}); err != nil {
			return nil, fail(id, CodeBadRequest, "%s: %v", typ, err)
		}
		if err := checkUsername(id, "user", m.User); err != nil {
			return nil, err
		}
		switch m.Action {
		case ActionAdd, ActionAccept, ActionDecline, ActionBlock, ActionRemove:
		default:
			return nil, fail(id, CodeBadRequest, `field "action" must be one of add, accept, decline, block, remove`)
		}
		if m.Message != "" && m.Action != ActionAdd {
			return nil, fail(id, CodeBadRequest, `field "message" goes with action "add" only`)
		}
		if !ValidText(m.Message) {
			return nil, fail(id, CodeBadRequest, `field "message" must be at most %d characters, no control characters`, MaxTextRunes)
		}
		return m, nil
	case TypeContacts:
		m := &ContactsRequest{Header: h}
		if err := decodeFields(fields, nil); err != nil {
			return nil, fail(id, CodeBadRequest, "%s: %v", typ, err)
		}
		return m, nil
	case TypeStatus:
		m := &SetStatus{Header: h}
		if err := decodeFields(fields, map[string]any{"status": &m.Status, "note": &m.Note}); err != nil {
			return nil, fail(id, CodeBadRequest, "%s: %v", typ, err)
		}
		if !ValidSettableStatus(m.Status) {
			return nil, fail(id, CodeBadRequest, `field "status" must be one of online, away, busy, invisible`)
		}
		if !ValidText(m.Note) {
			return nil, fail(id, CodeBadRequest, `field "note" must be at most %d characters, no control characters`, MaxTextRunes)
		}
		return m, nil
	case TypePing:
		m := &Ping{Header: h}
		if err := decodeFields(fields, nil); err != nil {
			return nil, fail(id, CodeBadRequest, "%s: %v", typ, err)
		}
		return m, nil
	case TypeICE, TypeRelay:
		return decodeRelayRequest(h, fields)
	case TypeChat, TypeInbox, TypeInboxAck:
		return decodeInboxRequest(h, fields)
	}
	return nil, fail(id, CodeUnknownType, "unknown request type %q", typ)
}

// decodeBase64 decodes a base64 field (RFC 4648 §4, padded) of exactly size bytes.
func decodeBase64(id, field, text string, size int, what string) ([]byte, error) {
	if text == "" {
		return nil, fail(id, CodeBadRequest, "missing field %q", field)
	}
	b, err := base64.StdEncoding.Strict().DecodeString(text)
	if err != nil || len(b) != size {
		return nil, fail(id, CodeBadRequest, "field %q must be %s: %d bytes in padded base64", field, what, size)
	}
	return b, nil
}

func (m *Signal) checkRequest() error {
	if m.From != "" {
		return fail(m.ID, CodeBadRequest, `field "from" is set by the server, not the client`)
	}
	if err := checkUsername(m.ID, "to", m.To); err != nil {
		return err
	}
	return m.checkCall()
}

// checkCall checks the fields a signal has in both directions and normalises
// its payload.
func (m *Signal) checkCall() error {
	if !ValidCallID(m.CallID) {
		return fail(m.ID, CodeBadRequest, `field "call_id" must be 1-64 of A-Z a-z 0-9 . _ -`)
	}
	if !ValidKind(m.Kind) {
		return fail(m.ID, CodeBadRequest, `field "kind" must be one of offer, answer, candidate, ringing, accept, reject, busy, hangup`)
	}
	payload, err := normalizePayload(m.Payload)
	if err != nil {
		return fail(m.ID, CodeBadRequest, `field "payload": %v`, err)
	}
	m.Payload = payload
	return nil
}

func checkUsername(id, field, name string) error {
	if name == "" {
		return fail(id, CodeBadRequest, "missing field %q", field)
	}
	if !ValidUsername(name) {
		return fail(id, CodeBadUsername, "field %q: %q is not a username (3-32 of a-z 0-9 . _ -, starting with a letter or digit)", field, name)
	}
	return nil
}

func fail(id, code, format string, args ...any) *Error {
	return &Error{Header: Header{V: Version, Type: TypeError, ID: id}, Code: code, Message: fmt.Sprintf(format, args...)}
}

// scanObject splits a JSON object into its members, rejecting anything that
// is not exactly one object and any duplicate key (encoding/json would
// silently keep the last one).
func scanObject(data []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if tok != json.Delim('{') {
		return nil, errors.New("frame must be a JSON object")
	}
	fields := make(map[string]json.RawMessage)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("not JSON: %w", err)
		}
		key := tok.(string) // inside an object the decoder yields only string keys
		if _, dup := fields[key]; dup {
			return nil, fmt.Errorf("duplicate field %q", key)
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, fmt.Errorf("not JSON: %w", err)
		}
		fields[key] = value
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON object")
	}
	return fields, nil
}

// decodeFields decodes each member other than the header into its target,
// in key order so that errors are deterministic. encoding/json matches keys
// case-insensitively, so decoding member by member is also what makes
// "User" an unknown field rather than an alias of "user".
func decodeFields(fields map[string]json.RawMessage, targets map[string]any) error {
	for _, key := range slices.Sorted(maps.Keys(fields)) {
		switch key {
		case "v", "type", "id":
			continue
		}
		target, ok := targets[key]
		if !ok {
			return fmt.Errorf("unknown field %q", key)
		}
		if err := json.Unmarshal(fields[key], target); err != nil {
			return fmt.Errorf("field %q: %s", key, strings.TrimPrefix(err.Error(), "json: "))
		}
	}
	return nil
}

// DecodeEvent decodes and validates one frame from the server. It ignores
// unknown fields, so a server can extend version 1 frames; a frame of an
// unknown type or with missing or invalid required fields is an error, which
// a client logs and skips.
func DecodeEvent(data []byte) (Message, error) {
	var h Header
	if err := json.Unmarshal(data, &h); err != nil {
		return nil, fmt.Errorf("not a JSON frame: %w", err)
	}
	if h.V != Version {
		return nil, fmt.Errorf("unsupported protocol version %d", h.V)
	}
	var m Message
	switch h.Type {
	case TypeHello:
		m = &Hello{}
	case TypeOK:
		m = &OK{}
	case TypeError:
		m = &Error{}
	case TypeLookupResult:
		m = &LookupResult{}
	case TypeSignal:
		m = &Signal{}
	case TypePresence:
		m = &Presence{}
	case TypePong:
		m = &Pong{}
	case TypeContact:
		m = &Contact{}
	case TypeContactsList:
		m = &ContactsResult{}
	case TypeICEResult:
		m = &ICEResult{}
	case TypeChat:
		m = &Chat{}
	case TypeInboxResult:
		m = &InboxResult{}
	default:
		return nil, fmt.Errorf("unknown frame type %q", h.Type)
	}
	if err := json.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("%s frame: %w", h.Type, err)
	}
	if err := checkEvent(m); err != nil {
		return nil, fmt.Errorf("%s frame: %w", h.Type, err)
	}
	return m, nil
}

func checkEvent(m Message) error {
	id := m.head().ID
	if id != "" && !ValidID(id) {
		return errors.New("invalid id")
	}
	switch m := m.(type) {
	case *Hello:
		if len(m.Nonce) != NonceSize {
			return fmt.Errorf("nonce must be %d bytes", NonceSize)
		}
		if m.MaxBytes <= 0 {
			return errors.New("max_bytes must be positive")
		}
	case *OK, *Pong:
		if id == "" {
			return errors.New("missing id")
		}
	case *Error:
		if m.Code == "" {
			return errors.New("missing code")
		}
	case *LookupResult:
		if id == "" || !ValidUsername(m.User) || m.Status == "" {
			return errors.New("missing or invalid id, user or status")
		}
	case *Signal:
		if !ValidUsername(m.From) || !ValidUsername(m.To) {
			return errors.New("missing or invalid from or to")
		}
		return m.checkCall()
	case *Presence:
		if !ValidUsername(m.User) || m.Status == "" {
			return errors.New("missing or invalid user or status")
		}
	case *Contact:
		if !ValidUsername(m.User) || m.State == "" {
			return errors.New("missing or invalid user or state")
		}
	case *ICEResult:
		return m.check()
	case *Chat:
		return m.check()
	case *InboxResult:
		return m.check()
	case *ContactsResult:
		if id == "" {
			return errors.New("missing id")
		}
		for _, c := range m.Contacts {
			if !ValidUsername(c.User) || c.State == "" {
				return errors.New("contact with a missing or invalid user or state")
			}
		}
	}
	return nil
}

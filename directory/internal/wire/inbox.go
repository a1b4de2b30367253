package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"
	"unicode"
	"unicode/utf8"
)

// Frame types of text chat through the directory: a message to a contact
// is stored until one of the contact's clients says it has delivered it.
const (
	TypeChat        = "chat"         // request: send a message; push: a message for you
	TypeInbox       = "inbox"        // request: the messages stored for you
	TypeInboxResult = "inbox-result" // answers inbox
	TypeInboxAck    = "inbox-ack"    // request: these messages were delivered; forget them
)

// CodeNotContact: chat goes only between accepted contacts.
const CodeNotContact = "not-a-contact"

// Limits of chat.
const (
	// MaxChatRunes bounds one message's text.
	MaxChatRunes = 2000
	// MaxInbox bounds the messages stored for one user; a message beyond it
	// is refused (rate-limited) until some are delivered.
	MaxInbox = 500
	// MaxInboxAck bounds the ids of one inbox-ack.
	MaxInboxAck = 100
)

// Chat is a text message: a request (To and Text) or a push (From, To,
// MsgID, Text and Sent, the time the directory took it, RFC 3339 UTC).
type Chat struct {
	Header
	From  string `json:"from,omitempty"`
	To    string `json:"to"`
	MsgID string `json:"msg_id,omitempty"`
	Text  string `json:"text"`
	Sent  string `json:"sent,omitempty"`
}

// InboxRequest asks for the messages stored for the sender, oldest first.
type InboxRequest struct{ Header }

// InboxResult answers an InboxRequest, oldest message first. More says
// that further messages did not fit: acknowledge these and ask again.
type InboxResult struct {
	Header
	Messages []Chat `json:"messages"` // without v, type and id
	More     bool   `json:"more,omitempty"`
}

// InboxAck says the messages MsgIDs were delivered: the directory forgets
// them.
type InboxAck struct {
	Header
	MsgIDs []string `json:"msg_ids"`
}

var msgIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidMsgID reports whether id can be a message id: 1–64 of A–Z a–z 0–9 _ -.
func ValidMsgID(id string) bool { return msgIDPattern.MatchString(id) }

// ValidChatText reports whether s can be a chat message: 1 to MaxChatRunes
// characters of valid UTF-8, with no control characters but newlines and
// tabs.
func ValidChatText(s string) bool {
	if s == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) > MaxChatRunes {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			return false
		}
	}
	return true
}

// decodeInboxRequest decodes the request types of chat (TypeChat,
// TypeInbox, TypeInboxAck).
func decodeInboxRequest(h Header, fields map[string]json.RawMessage) (Message, error) {
	id := h.ID
	bad := func(format string, args ...any) error {
		return fail(id, CodeBadRequest, "%s: %s", h.Type, fmt.Sprintf(format, args...))
	}
	switch h.Type {
	case TypeChat:
		m := &Chat{Header: h}
		if err := decodeFields(fields, map[string]any{"to": &m.To, "text": &m.Text}); err != nil {
			return nil, bad("%v", err)
		}
		if err := checkUsername(id, "to", m.To); err != nil {
			return nil, err
		}
		if !ValidChatText(m.Text) {
			return nil, bad(`field "text" must be 1-%d characters, no control characters but newline and tab`, MaxChatRunes)
		}
		return m, nil
	case TypeInbox:
		if err := decodeFields(fields, nil); err != nil {
			return nil, bad("%v", err)
		}
		return &InboxRequest{Header: h}, nil
	default: // TypeInboxAck
		m := &InboxAck{Header: h}
		if err := decodeFields(fields, map[string]any{"msg_ids": &m.MsgIDs}); err != nil {
			return nil, bad("%v", err)
		}
		if len(m.MsgIDs) == 0 || len(m.MsgIDs) > MaxInboxAck {
			return nil, bad(`field "msg_ids" must hold 1-%d ids`, MaxInboxAck)
		}
		for _, mid := range m.MsgIDs {
			if !ValidMsgID(mid) {
				return nil, bad(`field "msg_ids": each 1-64 of A-Z a-z 0-9 _ -`)
			}
		}
		return m, nil
	}
}

// check validates a message the server pushed or listed.
func (m *Chat) check() error {
	if !ValidUsername(m.From) || !ValidUsername(m.To) || !ValidMsgID(m.MsgID) || !ValidChatText(m.Text) {
		return errors.New("missing or invalid from, to, msg_id or text")
	}
	if _, err := time.Parse(time.RFC3339Nano, m.Sent); err != nil {
		return errors.New(`invalid "sent"`)
	}
	return nil
}

// check validates an InboxResult from the server.
func (m *InboxResult) check() error {
	if m.ID == "" {
		return errors.New("missing id")
	}
	for i := range m.Messages {
		if err := m.Messages[i].check(); err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
	}
	return nil
}

package call

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/pion/webrtc/v4"

	"github.com/parley-voip/parley/directory"
)

// Text chat during a call goes straight to the peer over a DataChannel of
// its own, opened by both sides with the same negotiated ID beside the
// control channel, so that neither waits for the other to announce it.
// Each message is a JSON object {"text": "…"}.
const (
	chatLabel = "parley-chat"
	chatID    = 1
	// maxChatMessage bounds what a peer can make us parse: the longest
	// text, four bytes a character, escaped, with room for the JSON around it.
	maxChatMessage = 8*directory.MaxChatRunes + 64
)

// Event kinds of chat.
const (
	EventChat     = "chat"      // the peer sent a message (Event.Message)
	EventChatSent = "chat-sent" // this side sent one
)

// ErrNoChat is Chat's error before the call's DataChannel is open.
var ErrNoChat = errors.New("chat is not open: the call has not connected")

var errBadChat = errors.New("bad chat message")

// chatMsg is one message on the chat channel.
type chatMsg struct {
	Text string `json:"text"`
}

// decodeChat reads a chat message from the peer.
func decodeChat(data []byte) (string, error) {
	if len(data) > maxChatMessage {
		return "", fmt.Errorf("%w: %d bytes", errBadChat, len(data))
	}
	var m chatMsg
	if err := json.Unmarshal(data, &m); err != nil {
		return "", fmt.Errorf("%w: %w", errBadChat, err)
	}
	if !directory.ValidChatText(m.Text) {
		return "", fmt.Errorf("%w: empty, too long or with control characters", errBadChat)
	}
	return m.Text, nil
}

// openChat opens the chat channel on pc. A message from the peer becomes an
// EventChat, emitted from the channel's goroutine (messages keep their
// order).
func (c *Call) openChat(pc *webrtc.PeerConnection) error {
	negotiated, id := true, uint16(chatID)
	dc, err := pc.CreateDataChannel(chatLabel, &webrtc.DataChannelInit{Negotiated: &negotiated, ID: &id})
	if err != nil {
		return fmt.Errorf("chat channel: %w", err)
	}
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		text, err := decodeChat(m.Data)
		if err != nil {
			c.log.Warn("peer's chat message", "err", err)
			return
		}
		c.emit(EventChat, text)
	})
	c.chat.Store(dc)
	return nil
}

// Chat sends text to the peer over the call (1 to directory.MaxChatRunes
// characters, no control characters but newline and tab).
func (c *Call) Chat(text string) error {
	if !directory.ValidChatText(text) {
		return fmt.Errorf("chat: a message is 1-%d characters, no control characters but newline and tab", directory.MaxChatRunes)
	}
	dc := c.chat.Load()
	if dc == nil || dc.ReadyState() != webrtc.DataChannelStateOpen {
		return ErrNoChat
	}
	b, _ := json.Marshal(chatMsg{Text: text}) // a struct of a string always marshals
	if err := dc.Send(b); err != nil {
		return fmt.Errorf("chat: %w", err)
	}
	c.emit(EventChatSent, text)
	return nil
}

// chatCommand recognises the text command "chat TEXT" (Do).
func chatCommand(command string) (text string, ok bool) {
	verb, text, _ := strings.Cut(strings.TrimSpace(command), " ")
	return strings.TrimSpace(text), verb == "chat"
}

package directory

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/parley-voip/parley/directory/internal/wire"
)

// ErrNotContact means a chat message went to someone who is not an
// accepted contact.
var ErrNotContact = errors.New("not a contact: chat goes only between accepted contacts")

// MaxChatRunes bounds one chat message.
const MaxChatRunes = wire.MaxChatRunes

// ValidChatText reports whether s can be a chat message: 1 to
// MaxChatRunes characters, no control characters but newline and tab.
func ValidChatText(s string) bool { return wire.ValidChatText(s) }

// chatBuffer is how many pushed messages wait for a reader of Chats.
const chatBuffer = 64

// Chat is a text message between contacts, as the directory delivers it.
type Chat struct {
	ID   string    `json:"id"` // the directory's, for AckChats
	From string    `json:"from"`
	To   string    `json:"to"`
	Text string    `json:"text"`
	Sent time.Time `json:"sent"` // when the directory took it
}

func chatOf(m *wire.Chat) Chat {
	sent, _ := time.Parse(time.RFC3339Nano, m.Sent) // checked by the decoder
	return Chat{ID: m.MsgID, From: m.From, To: m.To, Text: m.Text, Sent: sent}
}

// SendChat sends text to the accepted contact to through the directory,
// which keeps it until one of to's clients acknowledges it (AckChats):
// delivered at once to a contact who is online, at their next Inbox
// otherwise. Errors wrap ErrNotContact, ErrNoSuchUser, ErrRateLimited (the
// contact's inbox is full) or ErrBadUsername.
func (c *Client) SendChat(ctx context.Context, to, text string) error {
	if !wire.ValidUsername(to) {
		return fmt.Errorf("chat to %q: %w", to, ErrBadUsername)
	}
	if !wire.ValidChatText(text) {
		return fmt.Errorf("chat to %s: a message is 1-%d characters, no control characters but newline and tab", to, wire.MaxChatRunes)
	}
	id := c.newID()
	answer, err := c.request(ctx, id, &wire.Chat{Header: wire.Header{ID: id}, To: to, Text: text})
	var pe *ProtocolError
	switch {
	case errors.As(err, &pe) && pe.Code == wire.CodeNotContact:
		return fmt.Errorf("chat to %s: %w", to, ErrNotContact)
	case err != nil:
		return fmt.Errorf("chat to %s: %w", to, err)
	}
	if _, ok := answer.(*wire.OK); !ok {
		return fmt.Errorf("chat to %s: %w: unexpected answer %T", to, ErrProtocol, answer)
	}
	return nil
}

// Inbox returns the messages the directory keeps for the user, oldest
// first; more says there are others: acknowledge these and ask again.
func (c *Client) Inbox(ctx context.Context) (chats []Chat, more bool, err error) {
	id := c.newID()
	answer, err := c.request(ctx, id, &wire.InboxRequest{Header: wire.Header{ID: id}})
	if err != nil {
		return nil, false, fmt.Errorf("inbox: %w", err)
	}
	res, ok := answer.(*wire.InboxResult)
	if !ok {
		return nil, false, fmt.Errorf("inbox: %w: unexpected answer %T", ErrProtocol, answer)
	}
	for i := range res.Messages {
		chats = append(chats, chatOf(&res.Messages[i]))
	}
	return chats, res.More, nil
}

// TakeInbox hands every message the directory keeps for the user to
// show, a page at a time, oldest first, and acknowledges each page once
// show has returned, so that the directory forgets only what was shown.
// A request the directory refuses as rate-limited (a full inbox takes
// many pages) is tried again after rateLimitWait, while ctx lasts.
func (c *Client) TakeInbox(ctx context.Context, show func([]Chat)) error {
	for {
		var (
			chats []Chat
			more  bool
		)
		err := retryRateLimited(ctx, func() (err error) {
			chats, more, err = c.Inbox(ctx)
			return err
		})
		if err != nil || len(chats) == 0 {
			return err
		}
		show(chats)
		ids := make([]string, len(chats))
		for i, m := range chats {
			ids[i] = m.ID
		}
		if err := retryRateLimited(ctx, func() error { return c.AckChats(ctx, ids...) }); err != nil {
			return err
		}
		if !more {
			return nil
		}
	}
}

// rateLimitWait is how long TakeInbox waits after a rate-limited request:
// the directory's contact limit refills two requests in 400 ms.
const rateLimitWait = 500 * time.Millisecond

// retryRateLimited runs f until it succeeds, fails otherwise than
// rate-limited, or ctx ends.
func retryRateLimited(ctx context.Context, f func() error) error {
	for {
		err := f()
		if !errors.Is(err, ErrRateLimited) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(rateLimitWait):
		}
	}
}

// AckChats tells the directory that the messages ids were delivered, so
// that it forgets them.
func (c *Client) AckChats(ctx context.Context, ids ...string) error {
	for len(ids) > 0 {
		n := min(len(ids), wire.MaxInboxAck)
		id := c.newID()
		answer, err := c.request(ctx, id, &wire.InboxAck{Header: wire.Header{ID: id}, MsgIDs: ids[:n]})
		if err != nil {
			return fmt.Errorf("acknowledge chats: %w", err)
		}
		if _, ok := answer.(*wire.OK); !ok {
			return fmt.Errorf("acknowledge chats: %w: unexpected answer %T", ErrProtocol, answer)
		}
		ids = ids[n:]
	}
	return nil
}

// Chats returns the messages the directory pushes while the user is
// online, buffered (64); when it is full a message is not delivered here,
// but stays stored for the next Inbox. Acknowledge each with AckChats once
// shown. Control sessions receive none.
func (c *Client) Chats() <-chan Chat { return c.chats }

// dispatchChat hands a pushed message to Chats.
func (c *Client) dispatchChat(m *wire.Chat) {
	select {
	case c.chats <- chatOf(m):
	default:
		c.log.Debug("directory: chat not delivered now: channel full (it stays in the inbox)", "from", m.From)
	}
}

package directory

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/parley-voip/parley/directory/internal/wire"
)

// Text chat through the directory: a message to an accepted contact is
// stored in a JetStream key-value bucket and pushed to the contact's live
// sessions at once; it stays stored until one of the contact's clients
// acknowledges it (inbox-ack), so a contact who is offline, or whose
// client does not show chat, finds it at their next 'inbox'. Messages
// nobody fetches expire after inboxTTL.

// inboxBucket is the key-value bucket of stored messages: key
// "<recipient>.<msg_id>", value an inboxRecord.
const inboxBucket = "parley_inbox"

// inboxTTL is how long an undelivered message is kept.
const inboxTTL = 30 * 24 * time.Hour

// inboxPage bounds the encoded messages of one inbox-result, so that it
// fits a client's frame limit (max_bytes + 1024) with room to spare.
const inboxPage = 32 << 10

// inboxRecord is a stored message.
type inboxRecord struct {
	From string    `json:"from"`
	Text string    `json:"text"`
	Sent time.Time `json:"sent"`
}

// openInbox creates or opens the chat bucket; the directory opens it at
// start, with the others, so that no request waits on JetStream creating a
// replicated stream.
func openInbox(ctx context.Context, n *NATS) (jetstream.KeyValue, error) {
	kv, err := openBucket(ctx, n, jetstream.KeyValueConfig{
		Bucket:      inboxBucket,
		Description: "Parley chat messages, kept until delivered",
		History:     1,
		TTL:         inboxTTL,
		Storage:     n.storage,
		Replicas:    n.replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("inbox: %w", err)
	}
	return kv, nil
}

func inboxKey(user, msgID string) string { return natsToken(user) + "." + msgID }

// handleInbox serves the chat requests (chat, inbox, inbox-ack).
func (ss *session) handleInbox(msg wire.Message) {
	id := wire.RequestID(msg)
	if ss.limited(id, ss.userLimit.contact) {
		return
	}
	ctx, cancel := context.WithTimeout(ss.srv.ctx, storeTimeout)
	defer cancel()
	kv := ss.srv.inbox
	var err error
	switch m := msg.(type) {
	case *wire.Chat:
		err = ss.srv.storeChat(ctx, kv, ss.user, m.To, m.Text)
	case *wire.InboxRequest:
		var res *wire.InboxResult
		if res, err = listInbox(ctx, kv, ss.user); err == nil {
			res.ID = id
			ss.send(res)
			return
		}
	case *wire.InboxAck:
		err = ackInbox(ctx, kv, ss.user, m.MsgIDs)
	}
	var e *wire.Error
	switch {
	case err == nil:
		ss.send(&wire.OK{Header: wire.Header{ID: id}})
	case errors.As(err, &e):
		e.ID = id
		ss.send(e)
	default:
		ss.log.Error("directory: chat", "user", ss.user, "err", err)
		ss.fail(id, wire.CodeInternal, "chat failed; try again later")
	}
}

// storeChat keeps from's message to to and pushes it to to's sessions.
// Only accepted contacts chat; a message to someone who blocked the sender
// is taken and dropped, so that the sender learns nothing.
func (s *Server) storeChat(ctx context.Context, kv jetstream.KeyValue, from, to, text string) error {
	if from == to {
		return &wire.Error{Code: wire.CodeBadRequest, Message: "you cannot chat with yourself"}
	}
	list, err := s.store.Contacts(ctx, from)
	if err != nil {
		return err
	}
	rec, ok := list[to]
	if !ok || rec.State != ContactAccepted {
		if exists, err := s.accountExists(to); err != nil {
			return err
		} else if !exists {
			return &wire.Error{Code: wire.CodeNoSuchUser, Message: fmt.Sprintf("no such user %s", to)}
		}
		return &wire.Error{Code: wire.CodeNotContact, Message: fmt.Sprintf("%s is not your contact", to)}
	}
	if rec.BlockedByPeer {
		return nil
	}
	if n, err := countInbox(ctx, kv, to); err != nil {
		return err
	} else if n >= wire.MaxInbox {
		return &wire.Error{Code: wire.CodeRateLimited, Message: fmt.Sprintf("%s has %d messages waiting; try later", to, n)}
	}
	var raw [12]byte
	rand.Read(raw[:])
	msg := &wire.Chat{From: from, To: to, MsgID: hex.EncodeToString(raw[:]), Text: text}
	sent := time.Now().UTC()
	msg.Sent = sent.Format(time.RFC3339Nano)
	value, err := json.Marshal(inboxRecord{From: from, Text: text, Sent: sent})
	if err != nil {
		return err
	}
	if _, err := kv.Create(ctx, inboxKey(to, msg.MsgID), value); err != nil {
		return fmt.Errorf("store chat to %s: %w", to, err)
	}
	frame, err := wire.Encode(msg)
	if err != nil {
		return err
	}
	s.push(ctx, to, frame)
	return nil
}

// inboxKeys returns the keys of the messages stored for user.
func inboxKeys(ctx context.Context, kv jetstream.KeyValue, user string) ([]string, error) {
	lister, err := kv.ListKeysFiltered(ctx, natsToken(user)+".*")
	if err != nil {
		return nil, fmt.Errorf("list inbox of %s: %w", user, err)
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	return keys, nil
}

func countInbox(ctx context.Context, kv jetstream.KeyValue, user string) (int, error) {
	keys, err := inboxKeys(ctx, kv, user)
	return len(keys), err
}

// listInbox returns user's stored messages, oldest first, as many as fit
// one page; More says there are others (ack these, then ask again).
func listInbox(ctx context.Context, kv jetstream.KeyValue, user string) (*wire.InboxResult, error) {
	keys, err := inboxKeys(ctx, kv, user)
	if err != nil {
		return nil, err
	}
	res := &wire.InboxResult{Messages: []wire.Chat{}}
	var sent []time.Time
	for _, key := range keys {
		entry, err := kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // acknowledged meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("inbox of %s: %w", user, err)
		}
		var rec inboxRecord
		if err := json.Unmarshal(entry.Value(), &rec); err != nil {
			continue // not ours to repair; it expires
		}
		_, msgID, _ := strings.Cut(key, ".")
		res.Messages = append(res.Messages, wire.Chat{From: rec.From, To: user, MsgID: msgID, Text: rec.Text, Sent: rec.Sent.Format(time.RFC3339Nano)})
		sent = append(sent, rec.Sent)
	}
	order := make([]int, len(res.Messages))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		return cmp.Or(sent[a].Compare(sent[b]), strings.Compare(res.Messages[a].MsgID, res.Messages[b].MsgID))
	})
	page, size := make([]wire.Chat, 0, len(order)), 0
	for _, i := range order {
		m := res.Messages[i]
		size += len(m.Text)*2 + 200 // escaping may double the text; the fields around it
		if len(page) > 0 && size > inboxPage {
			res.More = true
			break
		}
		page = append(page, m)
	}
	res.Messages = page
	return res, nil
}

// ackInbox forgets the messages of user's that were delivered.
func ackInbox(ctx context.Context, kv jetstream.KeyValue, user string, msgIDs []string) error {
	for _, id := range msgIDs {
		if err := kv.Purge(ctx, inboxKey(user, id)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return fmt.Errorf("acknowledge message %s of %s: %w", id, user, err)
		}
	}
	return nil
}

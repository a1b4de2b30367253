package directory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/parley-voip/parley/directory/internal/wire"
)

// errNoRequest means accept or decline found no incoming request.
var errNoRequest = errors.New("no request from that user")

// contactAction carries out action by me on my contact with peer, writing
// both users' lists and telling both users' sessions (DESIGN §3). Two
// users acting on each other at the same instant may interleave; each list
// is updated atomically on its own.
func (s *Server) contactAction(me, peer, action, message string) error {
	ctx, cancel := context.WithTimeout(s.ctx, storeTimeout)
	defer cancel()
	if action == wire.ActionAdd {
		exists, err := s.accountExists(peer)
		if err != nil {
			return err
		}
		if !exists {
			return ErrNoSuchUser
		}
	}
	mineList, err := s.store.Contacts(ctx, me)
	if err != nil {
		return err
	}
	theirList, err := s.store.Contacts(ctx, peer)
	if err != nil {
		return err
	}
	mine, hasMine := mineList[peer]
	theirs, hasTheirs := theirList[me]
	now := time.Now().UTC()
	// newMine and newTheirs are the records to write; nil deletes.
	newMine, newTheirs := &mine, &theirs
	if !hasTheirs {
		newTheirs = nil
	}
	switch action {
	case wire.ActionAdd:
		switch {
		case hasMine && mine.State == ContactAccepted:
			return nil
		case hasTheirs && theirs.State == ContactBlocked:
			// They learn nothing; the request stays outgoing for ever.
			newMine = &ContactRecord{State: ContactOutgoing, Message: message, Updated: now, BlockedByPeer: true}
		case hasTheirs && theirs.State == ContactOutgoing, s.autoAccepts(peer):
			newMine = &ContactRecord{State: ContactAccepted, Updated: now}
			newTheirs = &ContactRecord{State: ContactAccepted, Message: theirs.Message, Updated: now}
		default:
			newMine = &ContactRecord{State: ContactOutgoing, Message: message, Updated: now}
			newTheirs = &ContactRecord{State: ContactIncoming, Message: message, Updated: now}
		}
	case wire.ActionAccept:
		if !hasMine || mine.State != ContactIncoming {
			return errNoRequest
		}
		newMine = &ContactRecord{State: ContactAccepted, Message: mine.Message, Updated: now}
		newTheirs = &ContactRecord{State: ContactAccepted, Message: mine.Message, Updated: now}
	case wire.ActionDecline:
		if !hasMine || mine.State != ContactIncoming {
			return errNoRequest
		}
		newMine = nil
		if hasTheirs && theirs.State == ContactOutgoing {
			newTheirs = &ContactRecord{State: ContactDeclined, Message: theirs.Message, Updated: now}
		}
	case wire.ActionBlock:
		newMine = &ContactRecord{State: ContactBlocked, Updated: now}
		if hasTheirs {
			theirs.BlockedByPeer = true
		}
	case wire.ActionRemove:
		newMine = nil
		if hasTheirs && theirs.State != ContactBlocked {
			newTheirs = nil
		}
	}

	if err := s.putContact(ctx, me, peer, newMine); err != nil {
		return err
	}
	if hasTheirs || newTheirs != nil {
		if err := s.putContact(ctx, peer, me, newTheirs); err != nil {
			return err
		}
	}
	// A blocked user's client is told nothing; its session only stops
	// following the blocker.
	theirsVisible := action != wire.ActionBlock && !(newMine != nil && newMine.BlockedByPeer)
	// Both sessions learn the new records before either is told the
	// other's presence, which each answers according to its record.
	myFollow := s.notifyContact(ctx, me, peer, newMine, true)
	theirFollow := false
	if hasTheirs || newTheirs != nil {
		theirFollow = s.notifyContact(ctx, peer, me, newTheirs, theirsVisible)
	}
	if myFollow {
		s.pushPresence(ctx, me, peer, newMine)
	}
	if theirFollow {
		s.pushPresence(ctx, peer, me, newTheirs)
	}
	return nil
}

// autoAccepts reports whether user's session accepts every contact request.
func (s *Server) autoAccepts(user string) bool {
	p, err := s.presenceOf(user, "")
	return err == nil && p.AutoAccept
}

func (s *Server) putContact(ctx context.Context, owner, peer string, rec *ContactRecord) error {
	return s.store.UpdateContacts(ctx, owner, func(list map[string]ContactRecord) {
		if rec == nil {
			delete(list, peer)
		} else {
			list[peer] = *rec
		}
	})
}

// Headers of a contact update to a user's subject (opContact).
const (
	peerHeader   = "Parley-Peer"
	stateHeader  = "Parley-State"  // the owner's record state; "" for none
	followHeader = "Parley-Follow" // "1" if the owner may now see the peer's presence
	fromHeader   = "Parley-From"   // who sends a signal or asks for a status
	nodeHeader   = "Parley-Node"   // (push of presence) the node holding the peer, if online
)

// notifyContact tells owner's sessions that their record of peer is now rec
// (nil: none): they update what they allow and follow and, if visible, push
// a contact frame to their client. It reports whether a session started or
// stopped following peer.
func (s *Server) notifyContact(ctx context.Context, owner, peer string, rec *ContactRecord, visible bool) (followChange bool) {
	m := nats.NewMsg(userSubject(owner))
	m.Header.Set(opHeader, opContact)
	m.Header.Set(peerHeader, peer)
	push := &wire.Contact{User: peer, State: ContactNone}
	if rec != nil {
		m.Header.Set(stateHeader, rec.State)
		push.State, push.Message = rec.State, rec.Message
	}
	follow := rec != nil && rec.mutual()
	if follow {
		m.Header.Set(followHeader, "1")
	}
	if visible {
		frame, err := wire.Encode(push)
		if err != nil {
			s.log.Error("directory: encode contact", "err", err)
			return false
		}
		m.Data = frame
	}
	reply, err := s.request(ctx, m)
	if err != nil {
		if !errors.Is(err, errUnanswered) {
			s.log.Warn("directory: notify contact change", "owner", owner, "peer", peer, "err", err)
		}
		return false
	}
	return string(reply.Data) == followChanged
}

// pushPresence sends owner's client peer's presence as owner may now see
// it, after following started (current presence) or stopped (offline).
func (s *Server) pushPresence(ctx context.Context, owner, peer string, rec *ContactRecord) {
	p := presenceInfo{Status: wire.StatusOffline}
	if rec != nil && rec.mutual() {
		var err error
		if p, err = s.presenceOf(peer, owner); err != nil {
			s.log.Warn("directory: presence for a new contact", "owner", owner, "peer", peer, "err", err)
			return
		}
	}
	frame, err := wire.Encode(&wire.Presence{User: peer, Status: p.Status, Note: p.Note})
	if err != nil {
		return
	}
	m := nats.NewMsg(userSubject(owner))
	m.Header.Set(opHeader, opPush)
	m.Header.Set(peerHeader, peer)
	// The owner's directory learns where peer is held (see nodes.go).
	m.Header.Set(nodeHeader, p.Node)
	m.Data = frame
	if _, err := s.request(ctx, m); err != nil && !errors.Is(err, errUnanswered) {
		s.log.Warn("directory: push presence", "user", owner, "err", err)
	}
}

// push delivers a frame to user's sessions, if any.
func (s *Server) push(ctx context.Context, user string, frame []byte) {
	m := nats.NewMsg(userSubject(user))
	m.Header.Set(opHeader, opPush)
	m.Data = frame
	if _, err := s.request(ctx, m); err != nil && !errors.Is(err, errUnanswered) {
		s.log.Warn("directory: push", "user", user, "err", err)
	}
}

// contactList returns me's contact list, with presence for accepted contacts.
func (s *Server) contactList(me string) ([]wire.ContactEntry, error) {
	ctx, cancel := context.WithTimeout(s.ctx, storeTimeout)
	defer cancel()
	list, err := s.store.Contacts(ctx, me)
	if err != nil {
		return nil, err
	}
	entries := make([]wire.ContactEntry, 0, len(list))
	for _, peer := range slices.Sorted(maps.Keys(list)) {
		rec := list[peer]
		e := wire.ContactEntry{User: peer, State: rec.State, Message: rec.Message}
		if rec.State == ContactAccepted {
			e.Status = wire.StatusOffline
			if !rec.BlockedByPeer {
				p, err := s.presenceOf(peer, me)
				if err != nil {
					return nil, err
				}
				e.Status, e.Note = p.Status, p.Note
				if e.Status == wire.StatusOffline {
					if st, err := s.store.Settings(ctx, peer); err == nil && !st.LastSeen.IsZero() {
						e.LastSeen = st.LastSeen.Format(time.RFC3339)
					}
				}
			}
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// setStatus tells user's session, which announces the new status to the
// user's contacts at once, then keeps it for later logins.
func (s *Server) setStatus(user, status, note string) error {
	ctx, cancel := context.WithTimeout(s.ctx, storeTimeout)
	defer cancel()
	body, err := json.Marshal(presenceInfo{Status: status, Note: note})
	if err != nil {
		return err
	}
	m := nats.NewMsg(userSubject(user))
	m.Header.Set(opHeader, opSetStatus)
	m.Data = body
	if _, err := s.request(ctx, m); err != nil && !errors.Is(err, errUnanswered) {
		return fmt.Errorf("tell %s's session: %w", user, err)
	}
	return s.store.UpdateSettings(ctx, user, func(st *Settings) { st.Status, st.Note = status, note })
}

// presenceInfo is the body of presence publications, status replies and
// status changes on NATS.
//
// Status "" is a holder-only publication: the user's presence did not
// change, but Node now holds one of their sessions (see nodes.go).
type presenceInfo struct {
	Status     string `json:"status,omitempty"`
	Note       string `json:"note,omitempty"`
	AutoAccept bool   `json:"auto_accept,omitempty"`
	// Node is the directory holding a session of the user: in status
	// replies, publications of a status other than offline, and
	// holder-only publications.
	Node string `json:"node,omitempty"`
}

// presenceOf returns user's presence as asker may see it; asker "" is the
// directory itself (for AutoAccept), which sees no status.
func (s *Server) presenceOf(user, asker string) (presenceInfo, error) {
	m := nats.NewMsg(userSubject(user))
	m.Header.Set(opHeader, opStatus)
	m.Header.Set(fromHeader, asker)
	reply, err := s.request(s.ctx, m)
	offline := presenceInfo{Status: wire.StatusOffline}
	switch {
	case errors.Is(err, errUnanswered):
		return offline, nil
	case err != nil:
		return presenceInfo{}, fmt.Errorf("presence of %s: %w", user, err)
	}
	var p presenceInfo
	if json.Unmarshal(reply.Data, &p) != nil || p.Status == "" {
		return offline, nil
	}
	s.learnHolder(user, p.Node)
	return p, nil
}

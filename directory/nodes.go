package directory

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/parley-voip/parley/directory/internal/wire"
)

// A directory that dies without closing its sessions (kill -9, a crash)
// announces no one offline. Its peers notice instead: every directory
// knows, for each user its sessions follow, which directory ("node") holds
// a session of that user, and probes those nodes; when NATS answers a
// probe with "no responders", the node's connection to NATS is gone, and
// each survivor asks whether the node's users have a session elsewhere and
// tells its own watchers of those who have not that they are offline.
//
// Where a user is held comes with every presence publication, status
// reply (presenceInfo.Node) and presence push (nodeHeader). A login that is not the user's first
// session, and a logout that leaves another, publish a holder-only update
// (no Status), so the holder is always a node with a live session of the
// user or a dead one that the probes will find.

const (
	nodeSubjectPrefix = "parley.node."
	// defaultNodeProbeInterval is how often a directory probes the nodes
	// holding users it follows: a dead node's users are shown offline about
	// this long after NATS drops its connection (at once for a killed
	// process, after NATS's own ping timeout for a machine that vanished).
	defaultNodeProbeInterval = time.Second
	// nodeGoneWorkers bounds the concurrent session checks after a node died.
	nodeGoneWorkers = 16
)

func nodeSubject(node string) string { return nodeSubjectPrefix + node }

// newNodeID returns a random name for this directory process on NATS.
func newNodeID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return hex.EncodeToString(b)
}

// watch is what a directory knows of one user whose presence its sessions
// follow.
type watch struct {
	sessions map[*session]struct{}
	// node holds a session of the user, as last heard; "" if offline.
	node string
}

// setHolderLocked records that node holds a session of w's user, keeping
// the count of watched users per node that the probes go by.
func (s *Server) setHolderLocked(w *watch, node string) {
	if w.node == node {
		return
	}
	if w.node != "" {
		if s.holders[w.node]--; s.holders[w.node] == 0 {
			delete(s.holders, w.node)
		}
	}
	if node != "" {
		s.holders[node]++
	}
	w.node = node
}

// learnHolder records the node that answered a status request about user,
// if the user is followed here and no holder is known: a presence
// publication, which may overtake the reply, is the newer word.
func (s *Server) learnHolder(user, node string) {
	s.mu.Lock()
	s.learnHolderLocked(user, node)
	s.mu.Unlock()
}

func (s *Server) learnHolderLocked(user, node string) {
	if w := s.watchers[user]; w != nil && w.node == "" {
		s.setHolderLocked(w, node)
	}
}

// probeRunLoop probes, every interval, the other nodes holding users
// followed here, and handles those found gone.
func (s *Server) probeRunLoop() {
	t := time.NewTicker(s.probeInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		if !s.nats.Ready() {
			continue // a survivor off NATS cannot tell who else is
		}
		s.mu.Lock()
		nodes := make([]string, 0, len(s.holders))
		for node := range s.holders {
			if node != s.node {
				nodes = append(nodes, node)
			}
		}
		s.mu.Unlock()
		for _, node := range nodes {
			ctx, cancel := context.WithTimeout(s.ctx, s.probeInterval)
			_, err := s.nats.conn.RequestWithContext(ctx, nodeSubject(node), nil)
			cancel()
			// Only "no responders" is proof: a slow node times out.
			if errors.Is(err, nats.ErrNoResponders) {
				s.nodeGone(node)
			}
		}
	}
}

// nodeGone finds, for each user followed here and held by the dead node,
// another node holding them, or else tells the local watchers that the
// user is offline and records when the user was last seen.
func (s *Server) nodeGone(dead string) {
	s.mu.Lock()
	var users []string
	for user, w := range s.watchers {
		if w.node == dead {
			users = append(users, user)
		}
	}
	s.mu.Unlock()
	s.log.Warn("directory: a directory node left NATS without closing its sessions", "node", dead, "followed_users", len(users))
	s.metrics.nodesGone.Add(1)

	work := make(chan string)
	var wg sync.WaitGroup
	for range min(nodeGoneWorkers, len(users)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for user := range work {
				s.recheckHolder(user, dead)
			}
		}()
	}
	for _, user := range users {
		select {
		case work <- user:
		case <-s.ctx.Done():
		}
	}
	close(work)
	wg.Wait()
}

// recheckHolder asks whether user, last held by the dead node, has a
// session elsewhere, and updates the local watchers.
func (s *Server) recheckHolder(user, dead string) {
	node, found, err := s.sessionOf(user)
	if err != nil {
		s.log.Warn("directory: check a dead node's user", "user", user, "err", err)
		return
	}
	frame, err := wire.Encode(&wire.Presence{User: user, Status: wire.StatusOffline})
	if err != nil {
		s.log.Error("directory: encode presence", "err", err)
		return
	}
	s.mu.Lock()
	w := s.watchers[user]
	// Unless news came meanwhile: a login elsewhere, a logout, or no
	// watcher left.
	stale := w != nil && w.node == dead
	if stale {
		s.setHolderLocked(w, node)
		if !found {
			for ss := range w.sessions {
				ss.enqueue(frame)
			}
		}
	}
	s.mu.Unlock()
	if !stale || found {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, storeTimeout)
	defer cancel()
	if err := s.store.UpdateSettings(ctx, user, func(st *Settings) { st.LastSeen = time.Now().UTC() }); err != nil {
		s.log.Warn("directory: record last seen", "user", user, "err", err)
	}
}

// reannounce publishes the presence of this directory's users again after
// its NATS connection came back: while it was away the other directories
// found it gone and showed its users offline.
func (s *Server) reannounce() {
	s.mu.Lock()
	announced := make(map[string]presenceInfo)
	for ss := range s.all {
		if ss.sub != nil && !ss.control {
			announced[ss.user] = ss.visible()
		}
	}
	s.mu.Unlock()
	for user, p := range announced {
		s.publishPresence(user, p)
	}
	s.log.Info("directory: back on NATS; presence announced again", "users", len(announced))
}

package call

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// The control channel is a DataChannel both sides open with the same
// negotiated ID (RFC 8832 is not needed), carrying JSON messages straight
// from peer to peer: the call's state (hold, mute) and its end, which thus
// reach the peer even when the directory has gone.
const (
	controlLabel = "parley-control"
	controlID    = 0
	// maxControlMessage bounds what a peer can make us parse.
	maxControlMessage = 1024
)

// controlMsg is one control channel message.
type controlMsg struct {
	Type string `json:"type"` // controlState or controlBye
	// controlState: the sender's hold and mute.
	Hold bool `json:"hold,omitempty"`
	Mute bool `json:"mute,omitempty"`
}

const (
	controlState = "state"
	controlBye   = "bye"
)

var errBadControl = errors.New("bad control message")

// decodeControl reads a control message from the peer.
func decodeControl(data []byte) (controlMsg, error) {
	var m controlMsg
	if len(data) > maxControlMessage {
		return m, fmt.Errorf("%w: %d bytes", errBadControl, len(data))
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("%w: %w", errBadControl, err)
	}
	if m.Type != controlState && m.Type != controlBye {
		return m, fmt.Errorf("%w: type %q", errBadControl, m.Type)
	}
	return m, nil
}

// openControl opens the control channel on pc; its callbacks only post
// events to the call.
func (c *Call) openControl(pc *webrtc.PeerConnection) (*webrtc.DataChannel, error) {
	negotiated, id := true, uint16(controlID)
	dc, err := pc.CreateDataChannel(controlLabel, &webrtc.DataChannelInit{Negotiated: &negotiated, ID: &id})
	if err != nil {
		return nil, fmt.Errorf("control channel: %w", err)
	}
	dc.OnOpen(func() { c.postEvent(evControlOpen{}) })
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		msg, err := decodeControl(m.Data)
		if err != nil {
			c.log.Warn("peer's control message", "err", err)
			return
		}
		c.postEvent(evControl{msg})
	})
	return dc, nil
}

// sendControl sends m to the peer if the channel is open; a message lost
// with a closing channel does not matter, since the call is ending.
func (c *Call) sendControl(s *session, m controlMsg) {
	if s.control == nil || s.control.ReadyState() != webrtc.DataChannelStateOpen {
		return
	}
	b, _ := json.Marshal(m) // our own type always marshals
	if err := s.control.Send(b); err != nil {
		c.log.Debug("send control message", "type", m.Type, "err", err)
	}
}

// gate passes the sender's packets to the track unless the call is on hold
// (either side) or muted. It renumbers what it passes so that the peer
// sees a pause in the timestamps, as after silence with DTX, rather than
// packets lost.
type gate struct {
	track  *webrtc.TrackLocalStaticRTP
	closed atomic.Bool // reports whether packets are held back

	// Touched only by the one goroutine that writes.
	held    uint16 // packets held back so far: the renumbering offset
	wasShut bool
	out     rtp.Packet

	dropped atomic.Uint64 // packets held back, for the stats
}

// WriteRTP sends p unless the gate is closed.
func (g *gate) WriteRTP(p *rtp.Packet) error {
	if g.closed.Load() {
		g.held++
		g.wasShut = true
		g.dropped.Add(1)
		return nil
	}
	g.out = *p
	g.out.SequenceNumber -= g.held
	if g.wasShut {
		g.out.Marker = true // RFC 3551 §4.1: a talkspurt starts
		g.wasShut = false
	}
	return g.track.WriteRTP(&g.out)
}

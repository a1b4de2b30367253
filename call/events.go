package call

import "time"

// State is where a call is in its life.
//
//	outgoing: dialing → ringing → connecting → active → ended
//	incoming:           ringing → connecting → active → ended
//
// Any state may go to ended; the end reason says how (an incoming call that
// stops ringing is missed, rejected or answered elsewhere; an outgoing one
// is cancelled, rejected, busy or not answered).
type State string

// The states of a call.
const (
	StateDialing    State = "dialing"    // the offer is on its way; nothing rings yet
	StateRinging    State = "ringing"    // a device of the callee rings
	StateConnecting State = "connecting" // answered: ICE and DTLS under way
	StateActive     State = "active"     // media flows (or is held)
	StateEnded      State = "ended"
)

// Status is a call's state as the user sees it.
type Status struct {
	State    State  `json:"state"`
	Hold     bool   `json:"hold"`      // this side put the call on hold
	Mute     bool   `json:"mute"`      // this side's microphone is muted
	PeerHold bool   `json:"peer_hold"` // the peer put the call on hold
	PeerMute bool   `json:"peer_mute"` // the peer muted their microphone
	SAS      string `json:"sas"`       // the short authentication string, once connected
}

// Event is one change in a call, as 'parley call --events' prints it.
type Event struct {
	Time      time.Time `json:"time"`
	Event     string    `json:"event"` // what happened: the new state's name, or one of the Event… kinds
	CallID    string    `json:"call_id"`
	Peer      string    `json:"peer"`
	Direction Direction `json:"direction"`
	Status
	EndReason EndReason `json:"end_reason,omitempty"` // for "ended"
	// Message says more where there is more to say: the warning of a
	// changed key, the cause of a failure.
	Message string `json:"message,omitempty"`
}

// Event kinds other than states.
const (
	EventHold       = "hold"
	EventResume     = "resume"
	EventMute       = "mute"
	EventUnmute     = "unmute"
	EventPeerHold   = "peer-hold"
	EventPeerResume = "peer-resume"
	EventPeerMute   = "peer-mute"
	EventPeerUnmute = "peer-unmute"
	// EventDevice: a microphone or speaker stopped and another replaced
	// it (Event.Message says which).
	EventDevice = "device"
)

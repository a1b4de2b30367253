package call

import "errors"

// EndReason says why a call ended; it is the stats' end_reason.
type EndReason string

// The reasons a call ends.
const (
	EndLocalHangup  EndReason = "local-hangup"  // this side hung up an active call
	EndRemoteHangup EndReason = "remote-hangup" // the peer hung up an active call
	EndCancelled    EndReason = "cancelled"     // a side hung up before the call connected
	EndMissed       EndReason = "missed"        // an incoming call stopped ringing unanswered
	EndNoAnswer     EndReason = "no-answer"     // the callee did not answer within the ring timeout
	EndRejected     EndReason = "rejected"      // the callee (or this side) declined
	EndBusy         EndReason = "busy"          // the callee is in another call
	EndOffline      EndReason = "offline"       // the callee is not online
	EndNoSuchUser   EndReason = "no-such-user"  // nobody has that name
	EndICEFailed    EndReason = "ice-failed"    // no network path could be found
	EndPeerLost     EndReason = "peer-lost"     // the path died during the call
	EndFailed       EndReason = "error"         // a local failure (media device, signalling)

	// EndAnsweredElsewhere: another device of this user answered the call.
	EndAnsweredElsewhere EndReason = "answered-elsewhere"
	// EndKeyChanged: the peer signed with another key than the one pinned
	// for them; refused until the user re-verifies them.
	EndKeyChanged EndReason = "key-changed"
	// EndBadSignature: the peer's offer or answer was not signed, or was
	// altered on the way (a directory tampering with the call).
	EndBadSignature EndReason = "bad-signature"
	// EndIdentityRefused: the peer refused the call because what it
	// received did not verify as from this side.
	EndIdentityRefused EndReason = "identity-refused"
)

// completed reports whether a call that ended for r ended as calls should:
// it was talked and then hung up by either side.
func (r EndReason) completed() bool {
	return r == EndLocalHangup || r == EndRemoteHangup
}

// Errors a Dial can fail with before any call exists.
var (
	ErrNoSuchUser = errors.New("no such user")
	ErrOffline    = errors.New("user is offline")
	ErrClosed     = errors.New("phone is closed")
	ErrSelf       = errors.New("you cannot call yourself")
	ErrLineBusy   = errors.New("already in as many calls as this phone takes")
)

// Reasons to refuse a call's offer or answer.
var (
	errKeyChanged   = errors.New("identity key changed")
	errBadSignature = errors.New("bad signature")
)

// EndError is the error of a call that did not complete; Reason is its
// end_reason.
type EndError struct {
	Reason EndReason
	Err    error // the cause, where there is more to say than the reason
}

// Error says in a few words why the call ended.
func (e *EndError) Error() string {
	msg := map[EndReason]string{
		EndCancelled:  "call cancelled",
		EndMissed:     "call missed",
		EndNoAnswer:   "no answer",
		EndRejected:   "call rejected",
		EndBusy:       "busy",
		EndOffline:    "user is offline",
		EndNoSuchUser: "no such user",
		EndICEFailed:  "ICE failed: no network path to the peer",
		EndPeerLost:   "peer lost: the network path died during the call",

		EndAnsweredElsewhere: "answered on another device",
		EndKeyChanged:        "REFUSED: the peer's identity key has changed",
		EndBadSignature:      "REFUSED: the call's signature does not verify (someone may be tampering with it)",
		EndIdentityRefused:   "the peer refused the call: what it received did not verify as from you (someone may be tampering with it)",
	}[e.Reason]
	if e.Reason == EndFailed && e.Err != nil {
		return e.Err.Error()
	}
	if msg == "" {
		msg = string(e.Reason)
	}
	if e.Err != nil {
		return msg + ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the cause.
func (e *EndError) Unwrap() error { return e.Err }

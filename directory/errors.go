package directory

import (
	"errors"

	"github.com/parley-voip/parley/directory/internal/wire"
)

// Errors callers distinguish. Client methods wrap them with context; test
// with errors.Is.
var (
	// ErrUnreachable means no WebSocket connection to the directory could be made.
	ErrUnreachable = errors.New("directory unreachable")
	// ErrBadUsername means a username does not match ^[a-z0-9][a-z0-9._-]{2,31}$.
	ErrBadUsername = errors.New("invalid username (3-32 of a-z 0-9 . _ -, starting with a letter or digit)")
	// ErrNameTaken means the username belongs to another key.
	ErrNameTaken = errors.New("username taken by another key")
	// ErrBadSignature means the directory rejected the login signature.
	ErrBadSignature = errors.New("login signature rejected")
	// ErrNoSuchUser means nobody registered the username.
	ErrNoSuchUser = errors.New("no such user")
	// ErrOffline means the user exists but has no session.
	ErrOffline = errors.New("user offline")
	// ErrTooLarge means a frame would exceed the directory's size limit.
	ErrTooLarge = errors.New("message too large for the directory")
	// ErrRateLimited means the directory refused a request because the
	// sender sent too many, or its recipient does not keep up; retry later.
	ErrRateLimited = errors.New("rate limited by the directory")
	// ErrProtocol means one side broke the directory protocol.
	ErrProtocol = errors.New("directory protocol violation")
	// ErrConnectionLost means the connection broke (network, server shutdown,
	// unanswered pings); reconnecting may help.
	ErrConnectionLost = errors.New("directory connection lost")
	// ErrReplaced means a newer login for the same user took the session over;
	// reconnecting would take it back, so a client should not do so on its own.
	ErrReplaced = errors.New("session replaced by a newer login of the same user")
	// ErrClosed means Close was called (on a Client or a Store).
	ErrClosed = errors.New("closed")
)

// ProtocolError is an error frame from the directory. It unwraps to the
// sentinel for its code where there is one (ErrNameTaken, ErrOffline, …);
// codes that mean a malformed request unwrap to ErrProtocol.
type ProtocolError struct {
	Code    string // the frame's "code", e.g. "no-such-user"
	Message string // the frame's human-readable "message"
}

// Error returns the code and message of the frame.
func (e *ProtocolError) Error() string { return "directory: " + e.Code + ": " + e.Message }

// Unwrap returns the sentinel error for e.Code, or nil for "internal" and
// codes this client does not know.
func (e *ProtocolError) Unwrap() error {
	switch e.Code {
	case wire.CodeBadUsername:
		return ErrBadUsername
	case wire.CodeNameTaken:
		return ErrNameTaken
	case wire.CodeBadSignature:
		return ErrBadSignature
	case wire.CodeNoSuchUser:
		return ErrNoSuchUser
	case wire.CodeOffline:
		return ErrOffline
	case wire.CodeTooLarge:
		return ErrTooLarge
	case wire.CodeRateLimited:
		return ErrRateLimited
	case wire.CodeBadRequest, wire.CodeBadVersion, wire.CodeUnknownType, wire.CodeUnauthenticated:
		return ErrProtocol
	}
	return nil
}

package nat

import "errors"

// errBadCredentials: TURN credentials that are malformed or expired.
var errBadCredentials = errors.New("bad TURN credentials")

package nat

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // the TURN REST scheme is HMAC-SHA1, as coturn implements it
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// TURNCredentials makes short-lived TURN credentials in the TURN REST
// scheme (draft-uberti-behave-turn-rest-00 §2.2), the one coturn's
// use-auth-secret understands: username "expiry:user" (expiry in Unix
// seconds), password base64(HMAC-SHA1(secret, username)). Any server that
// knows secret accepts them until now+ttl.
func TURNCredentials(secret, user string, now time.Time, ttl time.Duration) (username, password string) {
	username = strconv.FormatInt(now.Add(ttl).Unix(), 10) + ":" + user
	return username, turnPassword(secret, username)
}

func turnPassword(secret, username string) string {
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// parseTURNUsername splits a TURN REST username into its expiry and user
// part, and says what is wrong with it at now.
func parseTURNUsername(username string, now time.Time) (user string, err error) {
	expiry, user, _ := strings.Cut(username, ":")
	t, err := strconv.ParseInt(expiry, 10, 64)
	if err != nil {
		return "", fmt.Errorf("username %q: not expiry:user: %w", username, errBadCredentials)
	}
	if t < now.Unix() {
		return "", fmt.Errorf("username %q: expired %v ago: %w", username, now.Sub(time.Unix(t, 0)).Round(time.Second), errBadCredentials)
	}
	return user, nil
}

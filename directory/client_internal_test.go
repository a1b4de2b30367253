package directory

import (
	"errors"
	"testing"
)

func TestWebsocketURL(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // "" means an error
	}{
		{"bare-host-port", "127.0.0.1:7600", "ws://127.0.0.1:7600/v1/ws"},
		{"bare-host", "dir.example.org", "ws://dir.example.org/v1/ws"},
		{"http", "http://dir.example.org:7600", "ws://dir.example.org:7600/v1/ws"},
		{"http-slash", "http://dir.example.org:7600/", "ws://dir.example.org:7600/v1/ws"},
		{"https", "https://dir.example.org", "wss://dir.example.org/v1/ws"},
		{"ws", "ws://[::1]:7600", "ws://[::1]:7600/v1/ws"},
		{"wss-full-path", "wss://dir.example.org/v1/ws", "wss://dir.example.org/v1/ws"},
		{"proxy-prefix", "https://example.org/parley/", "wss://example.org/parley/v1/ws"},
		{"empty", "", ""},
		{"other-scheme", "ftp://dir.example.org", ""},
		{"no-host", "http://", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := websocketURL(tt.in)
			if tt.want == "" {
				if err == nil {
					t.Errorf("websocketURL(%q) = %q, want an error", tt.in, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("websocketURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestProtocolErrorUnwrapsToSentinel(t *testing.T) {
	tests := []struct {
		code string
		want error
	}{
		{"bad-username", ErrBadUsername},
		{"name-taken", ErrNameTaken},
		{"bad-signature", ErrBadSignature},
		{"no-such-user", ErrNoSuchUser},
		{"offline", ErrOffline},
		{"too-large", ErrTooLarge},
		{"bad-request", ErrProtocol},
		{"bad-version", ErrProtocol},
		{"unknown-type", ErrProtocol},
		{"unauthenticated", ErrProtocol},
		{"internal", nil},
		{"from-the-future", nil},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			if got := (&ProtocolError{Code: tt.code}).Unwrap(); got != tt.want {
				t.Errorf("Unwrap of %q = %v, want %v", tt.code, got, tt.want)
			}
			if err := error(&ProtocolError{Code: tt.code}); tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("errors.Is(%q, %v) = false", tt.code, tt.want)
			}
		})
	}
}

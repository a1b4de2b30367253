package wire

import (
	"strings"
	"testing"
)

func TestDecodeRelayRequests(t *testing.T) {
	const urls = `["stun:203.0.113.9:3478","turn:203.0.113.9:3478?transport=udp"]`
	tests := []struct {
		name     string
		frame    string
		wantCode string // "" means the frame decodes
	}{
		{"ice", `{"v":1,"type":"ice","id":"1"}`, ""},
		{"ice-with-a-field", `{"v":1,"type":"ice","id":"1","user":"bob"}`, CodeBadRequest},
		{"relay", `{"v":1,"type":"relay","id":"2","urls":` + urls + `,"secret":"0123456789abcdef","capacity":40,"load":3}`, ""},
		{"relay-for-anyone", `{"v":1,"type":"relay","id":"2","urls":` + urls + `,"secret":"0123456789abcdef","capacity":0,"load":0,"relay_for":"anyone"}`, ""},
		{"relay-for-strangers", `{"v":1,"type":"relay","id":"2","urls":` + urls + `,"secret":"0123456789abcdef","capacity":0,"load":0,"relay_for":"nobody"}`, CodeBadRequest},
		{"relay-without-secret", `{"v":1,"type":"relay","id":"2","urls":` + urls + `,"capacity":0,"load":0}`, CodeBadRequest},
		{"relay-short-secret", `{"v":1,"type":"relay","id":"2","urls":` + urls + `,"secret":"short","capacity":0,"load":0}`, CodeBadRequest},
		{"relay-without-urls", `{"v":1,"type":"relay","id":"2","urls":[],"secret":"0123456789abcdef","capacity":0,"load":0}`, CodeBadRequest},
		{"relay-http-url", `{"v":1,"type":"relay","id":"2","urls":["http://203.0.113.9/"],"secret":"0123456789abcdef","capacity":0,"load":0}`, CodeBadRequest},
		{"relay-long-url", `{"v":1,"type":"relay","id":"2","urls":["stun:` + strings.Repeat("a", 300) + `"],"secret":"0123456789abcdef","capacity":0,"load":0}`, CodeBadRequest},
		{"relay-negative-load", `{"v":1,"type":"relay","id":"2","urls":` + urls + `,"secret":"0123456789abcdef","capacity":0,"load":-1}`, CodeBadRequest},
		{"relay-unknown-field", `{"v":1,"type":"relay","id":"2","urls":` + urls + `,"secret":"0123456789abcdef","capacity":0,"load":0,"owner":"eve"}`, CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeRequest([]byte(tt.frame))
			switch e, _ := err.(*Error); {
			case tt.wantCode == "" && err != nil:
				t.Fatalf("DecodeRequest: %v", err)
			case tt.wantCode != "" && (e == nil || e.Code != tt.wantCode):
				t.Fatalf("DecodeRequest = %v, want code %s", err, tt.wantCode)
			}
		})
	}
}

func TestDecodeICEResult(t *testing.T) {
	tests := []struct {
		name    string
		frame   string
		wantErr bool
	}{
		{"servers", `{"v":1,"type":"ice-result","id":"1","servers":[{"urls":["stun:203.0.113.9:3478"]}],"ttl_s":60}`, false},
		{"no-servers", `{"v":1,"type":"ice-result","id":"1","servers":[],"ttl_s":60}`, false},
		{"server-without-urls", `{"v":1,"type":"ice-result","id":"1","servers":[{"username":"u"}],"ttl_s":60}`, true},
		{"without-id", `{"v":1,"type":"ice-result","servers":[],"ttl_s":60}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeEvent([]byte(tt.frame))
			if (err != nil) != tt.wantErr {
				t.Fatalf("DecodeEvent = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

package nat

import (
	"testing"

	"github.com/pion/webrtc/v4"
)

func TestICEConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     ICEConfig
		wantErr bool
	}{
		{"empty-is-host-only", ICEConfig{}, false},
		{"stun-server", ICEConfig{Servers: []ICEServer{{URL: "stun:127.0.0.1:3478"}}}, false},
		{"turn-with-credentials", ICEConfig{Servers: []ICEServer{{URL: "turn:127.0.0.1:3478?transport=udp", Username: "u", Credential: "p"}}}, false},
		{"turn-without-credentials", ICEConfig{Servers: []ICEServer{{URL: "turn:127.0.0.1:3478"}}}, true},
		{"bad-scheme", ICEConfig{Servers: []ICEServer{{URL: "http://127.0.0.1"}}}, true},
		{"relay-only-without-turn", ICEConfig{RelayOnly: true, Servers: []ICEServer{{URL: "stun:127.0.0.1:3478"}}}, true},
		{"relay-only-with-the-directorys-servers", ICEConfig{RelayOnly: true}, false},
		{"relay-only-with-turn", ICEConfig{RelayOnly: true, Servers: []ICEServer{{URL: "turn:127.0.0.1:3478", Username: "u", Credential: "p"}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Validate() = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestICEConfigConfiguration(t *testing.T) {
	cfg := ICEConfig{
		RelayOnly: true,
		Servers: []ICEServer{
			{URL: "stun:127.0.0.1:3478"},
			{URL: "turn:127.0.0.1:3478", Username: "1700000000:alice", Credential: "secret"},
		},
	}.Configuration()
	if cfg.ICETransportPolicy != webrtc.ICETransportPolicyRelay {
		t.Errorf("policy = %v, want relay", cfg.ICETransportPolicy)
	}
	if len(cfg.ICEServers) != 2 {
		t.Fatalf("got %d servers, want 2", len(cfg.ICEServers))
	}
	if cfg.ICEServers[0].Username != "" {
		t.Errorf("STUN server got a username %q", cfg.ICEServers[0].Username)
	}
	if got := cfg.ICEServers[1]; got.Username != "1700000000:alice" || got.Credential != "secret" {
		t.Errorf("TURN server credentials = %q/%v", got.Username, got.Credential)
	}
}

type fixedSource []ICEServer

func (f fixedSource) ICEServers() []ICEServer { return f }

func TestICEConfigSource(t *testing.T) {
	src := fixedSource{{URL: "turn:203.0.113.7:3478?transport=udp", Username: "1700000000:alice", Credential: "p"}}
	tests := []struct {
		name string
		cfg  ICEConfig
		want string
	}{
		{"source-when-no-servers", ICEConfig{Source: src}, "turn:203.0.113.7:3478?transport=udp"},
		{"own-servers-override-the-source", ICEConfig{Source: src, Servers: []ICEServer{{URL: "stun:198.51.100.1:3478"}}}, "stun:198.51.100.1:3478"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.cfg.Configuration().ICEServers
			if len(got) != 1 || got[0].URLs[0] != tt.want {
				t.Fatalf("servers = %+v, want only %s", got, tt.want)
			}
		})
	}
}

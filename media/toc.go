package media

import "errors"

var errBadTOC = errors.New("media: malformed opus packet")

// packetSamples returns how many 48 kHz samples an Opus packet decodes to,
// from its TOC byte and, for code 3, its frame count byte (RFC 6716 §3.1,
// §3.2.5): how the receiver learns the peer's frame size.
func packetSamples(packet []byte) (int, error) {
	if len(packet) == 0 {
		return 0, errBadTOC
	}
	toc := packet[0]
	config := int(toc >> 3)
	var frame int // samples per frame at 48 kHz
	switch {
	case config < 12: // SILK-only: 10, 20, 40, 60 ms
		frame = []int{480, 960, 1920, 2880}[config%4]
	case config < 16: // hybrid: 10, 20 ms
		frame = []int{480, 960}[config%2]
	default: // CELT-only: 2.5, 5, 10, 20 ms
		frame = []int{120, 240, 480, 960}[config%4]
	}
	frames := 1
	switch toc & 3 {
	case 1, 2:
		frames = 2
	case 3:
		if len(packet) < 2 {
			return 0, errBadTOC
		}
		frames = int(packet[1] & 0x3f)
	}
	if frames == 0 || frames*frame > MaxPacketSamples {
		return 0, errBadTOC
	}
	return frames * frame, nil
}

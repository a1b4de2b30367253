package ui

import (
	"context"
	"fmt"

	"github.com/parley-voip/parley/media"
)

// checkFrames is how long the settings' test tone and mic check last, in
// 20 ms frames.
const checkFrames = 75

// PlayTestTone plays a 440 Hz tone for a second and a half on speaker (a
// media.OpenSink spec), for the settings' "test tone".
func PlayTestTone(ctx context.Context, speaker string) error {
	src, err := media.OpenSource("tone:440", media.SourceOptions{})
	if err != nil {
		return err
	}
	defer src.Close()
	sink, err := media.OpenSink(speaker)
	if err != nil {
		return err
	}
	pcm := make([]int16, media.FrameSamples)
	for range checkFrames {
		// The tone source is paced in real time, so the loop is too.
		if err := src.ReadFrame(ctx, pcm); err != nil {
			sink.Close()
			return fmt.Errorf("test tone: %w", err)
		}
		if err := sink.WriteFrame(pcm); err != nil {
			sink.Close()
			return fmt.Errorf("test tone: %w", err)
		}
	}
	return sink.Close()
}

// MicLevel listens to mic (a media.OpenSource spec) for a second and a half
// and returns the loudest 20 ms frame's level in dBFS, for the settings'
// mic check.
func MicLevel(ctx context.Context, mic string) (float64, error) {
	src, err := media.OpenSource(mic, media.SourceOptions{})
	if err != nil {
		return 0, err
	}
	defer src.Close()
	pcm := make([]int16, media.FrameSamples)
	loudest := float64(media.SilenceDBFS)
	for range checkFrames {
		if err := src.ReadFrame(ctx, pcm); err != nil {
			return 0, fmt.Errorf("mic check: %w", err)
		}
		loudest = max(loudest, media.FrameDBFS(pcm))
	}
	return loudest, nil
}

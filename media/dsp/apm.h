// A C face for WebRTC's AudioProcessing module (webrtc-audio-processing 0.3,
// a C++ library), so that cgo can call it.
#ifndef PARLEY_APM_H
#define PARLEY_APM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct parley_apm parley_apm;

// parley_apm_new makes a processor of 48 kHz mono in 10 ms chunks (480
// samples) running the chosen stages; NULL if the library refuses.
parley_apm *parley_apm_new(int aec, int ns, int agc);
void parley_apm_free(parley_apm *a);

// parley_apm_set chooses which stages run.
int parley_apm_set(parley_apm *a, int aec, int ns, int agc);

// parley_apm_render analyses one chunk of the far end, aligned with the
// capture chunk that follows.
int parley_apm_render(parley_apm *a, const int16_t *pcm);

// parley_apm_capture cleans one chunk of the microphone in place and sets
// *voice to whether it holds speech.
int parley_apm_capture(parley_apm *a, int16_t *pcm, int *voice);

#ifdef __cplusplus
}
#endif

#endif

//! Fuzz the frame decoder: arbitrary bytes, split at arbitrary points, with
//! and without the client intro, under a small or the default size limit.
//! Nothing may panic, no frame may exceed the limit, the split must not
//! change the result, and the frames must re-encode to the bytes consumed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wa_proto::frame::{FrameDecoder, FrameError, MAX_FRAME_SIZE, encode_frame};

fn run(data: &[u8], server: bool, max: usize, step: usize) -> (Vec<Vec<u8>>, Option<FrameError>) {
    let mut dec = if server {
        FrameDecoder::server()
    } else {
        FrameDecoder::new()
    }
    .max_frame_size(max);
    let mut frames = Vec::new();
    for chunk in data.chunks(step.max(1)) {
        dec.push(chunk);
        loop {
            match dec.next_frame() {
                Ok(Some(f)) => {
                    assert!(f.len() <= max);
                    frames.push(f);
                }
                Ok(None) => break,
                Err(e) => return (frames, Some(e)),
            }
        }
    }
    (frames, None)
}

fuzz_target!(|input: &[u8]| {
    let Some((&ctl, data)) = input.split_first() else {
        return;
    };
    let server = ctl & 1 == 1;
    let max = if ctl & 2 == 2 {
        usize::from(ctl >> 2) * 4
    } else {
        MAX_FRAME_SIZE
    };
    let step = usize::from(ctl >> 3) + 1;
    let whole = run(data, server, max, data.len());
    let split = run(data, server, max, step);
    // Same frames, same kind of error (a `BadIntro` may show fewer bytes
    // when it was detected on a partial buffer).
    assert_eq!(whole.0, split.0);
    assert_eq!(
        whole.1.as_ref().map(std::mem::discriminant),
        split.1.as_ref().map(std::mem::discriminant)
    );
    if !server && whole.1.is_none() {
        let mut re = Vec::new();
        for f in &whole.0 {
            re.extend(encode_frame(f).unwrap());
        }
        assert_eq!(&data[..re.len()], &re[..]);
    }
});

//! An offline emulator of the WhatsApp multi-device server side, with simulated phones.

// Interop check: the real Baileys client (pinned in package.json) against wa-emulator.
// Usage: node interop.mjs  (env: WS_URL, CONTROL_URL, ROOT_PUBLIC_KEY, ME, PEER, AUTH_DIR;
// NODE_EXTRA_CA_CERTS must point at the emulator's media certificate, see run.sh).
// Exits 0 when every step passed, 1 on the first failure.
import { createHash, randomBytes } from 'node:crypto'
import { deflateSync } from 'node:zlib'
import makeWASocket, {
  WA_CERT_DETAILS,
  DisconnectReason,
  useMultiFileAuthState,
  Browsers,
  downloadMediaMessage
} from 'baileys'
import pino from 'pino'

const env = (k) => {
  const v = process.env[k]
  if (!v) throw new Error(`missing env ${k}`)
  return v
}
const WS_URL = env('WS_URL')
const CONTROL = env('CONTROL_URL')
const ME = env('ME')
const PEER = env('PEER')
const AUTH_DIR = env('AUTH_DIR')

// Trust the emulator's Noise root instead of WhatsApp's (Baileys verifies the intermediate
// certificate against this key; nothing else about the check is changed).
WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(env('ROOT_PUBLIC_KEY'), 'hex')

// Every error Baileys logs (other than the expected 515 restart) fails the run at the end.
const baileysErrors = []
const logger = pino({
  level: process.env.BAILEYS_LOG || 'warn',
  hooks: {
    logMethod(args, method, level) {
      const msg = args.find((a) => typeof a === 'string') || ''
      const obj = args.find((a) => a && typeof a === 'object') || {}
      const restart = msg === 'stream errored out' && obj.fullErrorNode?.attrs?.code === '515'
      if (level >= 50 && !restart) {
        const err = obj.error || obj.err
        baileysErrors.push(`${msg}: ${err?.stack || err?.message || JSON.stringify(err) || ''}`)
      }
      return method.apply(this, args)
    }
  }
})
const log = (...a) => console.log(new Date().toISOString().slice(11, 23), ...a)
const fail = (msg) => {
  console.error(`FAIL: ${msg}`)
  process.exit(1)
}
const timer = setTimeout(() => fail('overall timeout'), Number(process.env.TIMEOUT_MS || 110000))
timer.unref()

async function control(method, path, body) {
  const res = await fetch(CONTROL + path, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`)
  return text ? JSON.parse(text) : null
}

async function waitFor(what, fn, ms = 20000) {
  const end = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > end) fail(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 250))
  }
}

const { state, saveCreds } = await useMultiFileAuthState(AUTH_DIR)
let sock
let scanned = false
let opens = 0
let historySets = 0
const received = []
let openResolve
const opened = new Promise((r) => (openResolve = r))

function connect() {
  sock = makeWASocket({
    auth: state,
    logger,
    waWebSocketUrl: WS_URL,
    browser: Browsers.ubuntu('Chrome'),
    printQRInTerminal: false,
    markOnlineOnConnect: false,
    syncFullHistory: false,
    connectTimeoutMs: 20000
  })
  sock.ev.on('creds.update', saveCreds)
  sock.ev.on('connection.update', async (u) => {
    const { connection, lastDisconnect, qr } = u
    if (qr && scanned && opens > 0) fail('asked for a QR again after pairing')
    if (qr && !scanned) {
      scanned = true
      log(`QR ${qr}`)
      try {
        const r = await control('POST', `/control/accounts/${ME}/scan`, { qr })
        log(`SCANNED device_jid=${r.device_jid}`)
      } catch (e) {
        fail(`scan: ${e.message}`)
      }
    }
    if (connection === 'open') {
      opens++
      log(`OPEN as ${sock.user?.id}`)
      openResolve()
    }
    if (connection === 'close') {
      const code = lastDisconnect?.error?.output?.statusCode
      log(`CLOSE code=${code} ${lastDisconnect?.error?.message || ''}`)
      if (code === DisconnectReason.restartRequired) {
        log('restart required (515): reconnecting')
        connect()
      } else if (!finished) {
        fail(`connection closed unexpectedly: ${code} ${lastDisconnect?.error?.message}`)
      }
    }
  })
  sock.ev.on('messaging-history.set', ({ syncType }) => {
    log(`HISTORY syncType=${syncType}`)
    historySets++
  })
  sock.ev.on('messages.upsert', ({ messages }) => {
    for (const m of messages) {
      if (m.key.fromMe) continue
      const text = m.message?.conversation || m.message?.extendedTextMessage?.text
      log(`MESSAGE from=${m.key.remoteJid} text=${JSON.stringify(text)}`)
      received.push({ from: m.key.remoteJid, text, msg: m })
    }
  })
}

let finished = false
connect()
await opened
const peerJid = `${PEER}@s.whatsapp.net`

// 1. text: Baileys -> peer's phone
const text = `hello from baileys ${randomBytes(4).toString('hex')}`
const sent = await sock.sendMessage(peerJid, { text })
log(`SENT id=${sent.key.id}`)
await waitFor('text in peer inbox', async () => {
  const inbox = await control('GET', `/control/accounts/${PEER}/inbox`)
  return inbox.find((m) => m.id === sent.key.id && m.text === text)
})
log('PASS text delivered to the phone')

// 2. text: peer's phone -> Baileys
const back = `hello from the phone ${randomBytes(4).toString('hex')}`
await control('POST', `/control/accounts/${PEER}/send`, { to: ME, text: back })
await waitFor('text from the phone', async () => received.find((m) => m.text === back))
log('PASS text received from the phone')

// 3. image: Baileys -> peer's phone (uploaded over HTTPS to the media host)
const image = randomPng(96, 96)
const sha = createHash('sha256').update(image).digest('hex')
const caption = `caption ${randomBytes(3).toString('hex')}`
const sentImg = await sock.sendMessage(peerJid, { image, caption, mimetype: 'image/png' })
log(`SENT image id=${sentImg.key.id}`)
const got = await waitFor('image in peer inbox', async () => {
  const inbox = await control('GET', `/control/accounts/${PEER}/inbox`)
  return inbox.find((m) => m.id === sentImg.key.id)
})
if (got.type !== 'image') fail(`image arrived as ${JSON.stringify(got)}`)
if ((got.sha256 || '').toLowerCase() !== sha && got.sha256 !== Buffer.from(sha, 'hex').toString('base64'))
  fail(`image sha256 mismatch: ${got.sha256} != ${sha}`)
if (got.size !== undefined && got.size !== image.length) fail(`image size ${got.size} != ${image.length}`)
if (got.caption !== caption) fail(`caption mismatch: ${got.caption}`)
log('PASS image delivered to the phone (sha256 and caption match)')

// 4. the initial history sync the phone pushed after pairing was processed
await waitFor('initial history sync', async () => historySets > 0)
log('PASS initial history sync processed')

// 5. image: peer's phone -> Baileys (Baileys downloads and decrypts it from the media host)
const image2 = randomPng(64, 48)
const sha2 = createHash('sha256').update(image2).digest('hex')
const caption2 = `from the phone ${randomBytes(3).toString('hex')}`
await control('POST', `/control/accounts/${PEER}/send`, {
  to: ME,
  image: { base64: image2.toString('base64'), mimetype: 'image/png' },
  caption: caption2
})
const gotImg = await waitFor('image from the phone', async () =>
  received.find((m) => m.msg.message?.imageMessage?.caption === caption2)
)
log(`IMAGE url=${gotImg.msg.message.imageMessage.url}`)
let data
try {
  data = await downloadMediaMessage(gotImg.msg, 'buffer', {}, { logger, reuploadRequest: sock.updateMediaMessage })
} catch (e) {
  fail(`image download: ${e.stack || e}`)
}
if (createHash('sha256').update(data).digest('hex') !== sha2) fail('downloaded image differs from the one sent')
log('PASS image received from the phone and downloaded')

// 6. log in again with the stored credentials: no QR, straight to open, and messages still flow
finished = true
sock.end(undefined)
await new Promise((r) => setTimeout(r, 300))
finished = false
let reopenResolve
const reopened = new Promise((r) => (reopenResolve = r))
openResolve = reopenResolve
const qrBefore = scanned
connect()
await reopened
if (!qrBefore) fail('no QR on first connect')
const again = `again ${randomBytes(4).toString('hex')}`
await control('POST', `/control/accounts/${PEER}/send`, { to: ME, text: again })
await waitFor('text after re-login', async () => received.find((m) => m.text === again))
const again2 = `again from baileys ${randomBytes(4).toString('hex')}`
const sent2 = await sock.sendMessage(peerJid, { text: again2 })
await waitFor('text after re-login in peer inbox', async () => {
  const inbox = await control('GET', `/control/accounts/${PEER}/inbox`)
  return inbox.find((m) => m.id === sent2.key.id && m.text === again2)
})
log('PASS re-login with stored credentials (no QR), text both ways')

if (baileysErrors.length) fail(`Baileys logged errors:\n  ${baileysErrors.join('\n  ')}`)
finished = true
sock.end(undefined)
log('ALL PASSED')
process.exit(0)

// A valid RGB PNG of random pixels (so Baileys can also make its thumbnail).
function randomPng(w, h) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    return c >>> 0
  })
  const crc = (buf) => {
    let c = 0xffffffff
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8)
    return (c ^ 0xffffffff) >>> 0
  }
  const chunk = (type, data) => {
    const len = Buffer.alloc(4)
    len.writeUInt32BE(data.length)
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data])
    const c = Buffer.alloc(4)
    c.writeUInt32BE(crc(td))
    return Buffer.concat([len, td, c])
  }
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(w, 0)
  ihdr.writeUInt32BE(h, 4)
  ihdr[8] = 8 // bit depth
  ihdr[9] = 2 // RGB
  const rows = []
  for (let y = 0; y < h; y++) rows.push(Buffer.from([0]), randomBytes(w * 3))
  return Buffer.concat([
    Buffer.from('89504e470d0a1a0a', 'hex'),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.concat(rows))),
    chunk('IEND', Buffer.alloc(0))
  ])
}

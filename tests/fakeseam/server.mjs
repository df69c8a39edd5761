// Seam's own fake server (@seamapi/fake-seam-connect), seeded, with Oracode-shaped doors added,
// for the contract tests of locks/seam.py (tests/fixtures/fake_seam.py starts it).
//
//   node tests/fakeseam/server.mjs [PORT]     PORT 0 (the default) picks a free port
//
// Prints one JSON line on stdout when ready:
//   {"url": "http://127.0.0.1:PORT", "api_key": "...", "workspace_id": "...", "oracode_device_ids": [...], ...}
// and runs until stdin closes, or SIGTERM/SIGINT.
//
// The fake knows nothing of Oracode: the doors are plain device rows carrying the metadata real
// Seam sends, so only listing/getting them is meaningful. It keeps no offline-code semantics.

import net from "node:net";
import process from "node:process";

// The fake's server listens on every interface; a test peer must not be reachable from outside,
// so force the loopback host on every listen() (ports, option objects; pipes pass through).
const HOST = "127.0.0.1";
const originalListen = net.Server.prototype.listen;
net.Server.prototype.listen = function listenOnLoopback(...args) {
  const [first] = args;
  if (typeof first === "number" || (typeof first === "string" && /^\d+$/.test(first))) {
    if (typeof args[1] === "string") {
      args[1] = HOST;
    } else {
      args.splice(1, 0, HOST);
    }
  } else if (first != null && typeof first === "object" && !("_handle" in first) && !("fd" in first)) {
    if (first.path == null) {
      args[0] = { ...first, host: HOST };
    }
  } else if (first == null || typeof first === "function") {
    args.unshift(0, HOST);
  }
  return originalListen.apply(this, args);
};

const portArg = process.argv[2] ?? "0";
const port = Number(portArg);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`server.mjs: bad port ${JSON.stringify(portArg)}\n`);
  process.exit(2);
}

// Outside production the fake puts a JS stack trace in every error body; real Seam does not.
// (NODE_ENV=development node server.mjs to see them.)
process.env.NODE_ENV ??= "production";

const { createFake } = await import("@seamapi/fake-seam-connect");
const fake = await createFake();
const seed = await fake.seed();
const db = fake.database;
const workspace_id = seed.seed_workspace_1;

const oracodeAccount = db.addConnectedAccount({
  provider: "dormakaba_oracode",
  workspace_id,
  user_identifier: { username: "jane" },
  display_name: "jane",
});

function addOracodeDoor({ device_id, display_name, metadata, warnings = [] }) {
  db.addDevice({
    device_id,
    device_type: "dormakaba_oracode_door",
    display_name,
    name: display_name,
    connected_account_id: oracodeAccount.connected_account_id,
    workspace_id,
    warnings,
    properties: {
      manufacturer: "dormakaba_oracode",
      model: {
        display_name: "Oracode door",
        manufacturer_display_name: "dormakaba Oracode",
      },
    },
  });
  // addDevice() only knows the generic capability flags; the Oracode ones go in afterwards.
  return db.updateDevice({
    device_id,
    can_program_offline_access_codes: true,
    can_program_online_access_codes: false,
    can_remotely_lock: false,
    can_remotely_unlock: false,
    properties: { dormakaba_oracode_metadata: metadata },
  });
}

// Site 1: Ocean Beach Vacations, America/Los_Angeles, the older slot shape
// (`ext_dormakaba_oracode_user_level_prefix`, times with the zone in brackets only).
const LA = "America/Los_Angeles";
const laSlots = [
  {
    name: "Guest RCI D 7am-7pm",
    prefix: 0,
    is_master: false,
    is_24_hour: false,
    is_one_shot: false,
    is_biweekly_mode: false,
    check_in_time: `07:00:00[${LA}]`,
    check_out_time: `19:00:00[${LA}]`,
    dormakaba_oracode_user_level_id: "f23721ec-8f4c-4f6a-9d0e-4c1a2b3d4e01",
    ext_dormakaba_oracode_user_level_prefix: 0,
  },
  {
    name: "Guest 4pm-11am",
    prefix: 1,
    is_master: false,
    is_24_hour: false,
    is_one_shot: false,
    is_biweekly_mode: false,
    check_in_time: `16:00:00[${LA}]`,
    check_out_time: `11:00:00[${LA}]`,
    dormakaba_oracode_user_level_id: "f23721ec-8f4c-4f6a-9d0e-4c1a2b3d4e02",
    ext_dormakaba_oracode_user_level_prefix: 1,
  },
  {
    name: "Guest 24h daily",
    prefix: 2,
    is_master: false,
    is_24_hour: true,
    is_one_shot: false,
    is_biweekly_mode: false,
    check_in_time: `00:00:00[${LA}]`,
    check_out_time: `00:00:00[${LA}]`,
    dormakaba_oracode_user_level_id: "f23721ec-8f4c-4f6a-9d0e-4c1a2b3d4e03",
    ext_dormakaba_oracode_user_level_prefix: 2,
  },
  {
    name: "Master",
    prefix: 9,
    is_master: true,
    is_24_hour: false,
    is_one_shot: false,
    is_biweekly_mode: false,
    check_in_time: `00:00:00[${LA}]`,
    check_out_time: `00:00:00[${LA}]`,
    dormakaba_oracode_user_level_id: "f23721ec-8f4c-4f6a-9d0e-4c1a2b3d4e09",
    ext_dormakaba_oracode_user_level_prefix: 9,
  },
];
const room101 = addOracodeDoor({
  device_id: "oracode_door_room_101",
  display_name: "Room 101",
  metadata: {
    door_id: 12,
    door_name: "Room 101",
    door_is_wireless: false,
    site_id: null,
    site_name: "Ocean Beach Vacations",
    iana_timezone: LA,
    predefined_time_slots: laSlots,
  },
});
const room102 = addOracodeDoor({
  device_id: "oracode_door_room_102",
  display_name: "Room 102",
  metadata: {
    door_id: 13,
    door_name: "Room 102",
    door_is_wireless: false,
    site_id: null,
    site_name: "Ocean Beach Vacations",
    iana_timezone: LA,
    predefined_time_slots: laSlots.slice(0, 2),
  },
  warnings: [
    {
      warning_code: "max_access_codes_reached",
      message: "Maximum number of access codes reached on this door.",
      created_at: new Date().toISOString(),
    },
  ],
});

// Site 2: Bondi Beach Stays, Australia/Sydney, the newer slot shape
// (`dormakaba_oracode_user_level_prefix`, times with an offset and the zone).
const SYD = "Australia/Sydney";
const bondi4 = addOracodeDoor({
  device_id: "oracode_door_bondi_4",
  display_name: "Unit 4",
  metadata: {
    door_id: 4,
    door_name: "Unit 4",
    door_is_wireless: true,
    site_id: null,
    site_name: "Bondi Beach Stays",
    iana_timezone: SYD,
    predefined_time_slots: [
      {
        name: "Guest 3pm-10am",
        prefix: 3,
        is_master: false,
        is_24_hour: false,
        is_one_shot: false,
        is_biweekly_mode: false,
        check_in_time: `15:00:00+10:00[${SYD}]`,
        check_out_time: `10:00:00+10:00[${SYD}]`,
        dormakaba_oracode_user_level_id: "0b5e7a52-3c1d-4e8f-a9b0-1c2d3e4f5a01",
        dormakaba_oracode_user_level_prefix: 3,
      },
      {
        name: "Cleaner one-shot",
        prefix: 4,
        is_master: false,
        is_24_hour: false,
        is_one_shot: true,
        is_biweekly_mode: false,
        check_in_time: `09:00:00+10:00[${SYD}]`,
        check_out_time: `17:00:00+10:00[${SYD}]`,
        dormakaba_oracode_user_level_id: "0b5e7a52-3c1d-4e8f-a9b0-1c2d3e4f5a02",
        dormakaba_oracode_user_level_prefix: 4,
      },
    ],
  },
});

const server = await fake.startServer({ port });
const realPort = server.server.address().port;

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  server.server.close();
  server.server.closeAllConnections?.();
  process.exit(0);
}
process.stdin.on("end", stop);
process.stdin.on("close", stop);
process.stdin.resume();
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

// Only now, with every way to stop in place, tell the caller where we are.
process.stdout.write(
  JSON.stringify({
    url: `http://${HOST}:${realPort}`,
    api_key: seed.seam_apikey1_token,
    other_workspace_api_key: seed.seam_apikey2_token,
    workspace_id,
    oracode_device_ids: [room101.device_id, room102.device_id, bondi4.device_id],
    other_device_ids: [
      seed.august_device_1,
      seed.august_device_2,
      seed.ecobee_device_1,
      seed.minut_device_1,
      seed.schlage_device_1,
    ],
  }) + "\n",
);

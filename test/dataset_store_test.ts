import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { jetstreamManager } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import type { NatsConnection } from "@nats-io/transport-node";
import { generate } from "../src/data/generators.ts";
import { datasetFingerprint } from "../src/data/fingerprint.ts";
import { ClusterError } from "../src/engines/cluster/cluster_error.ts";
import { connectCluster } from "../src/engines/cluster/connection.ts";
import {
  DATA_BUCKET,
  DatasetPieces,
  publishDataset,
} from "../src/engines/cluster/dataset_store.ts";
import { type NatsServer, startNatsServer } from "../src/engines/cluster/nats_server.ts";
import { natsSkip as skip } from "./cluster/nats_fixture.ts";

/** Messages in the data bucket's stream: every upload adds some. */
async function storedMessages(nc: NatsConnection): Promise<number> {
  const info = await (await jetstreamManager(nc)).streams.info(`OBJ_${DATA_BUCKET}`);
  return info.state.messages;
}

async function withServer(body: (nc: NatsConnection, server: NatsServer) => Promise<void>) {
  await using server = await startNatsServer();
  const nc = await connectCluster(server.url);
  try {
    await body(nc, server);
  } finally {
    await nc.close();
  }
}

describe("publishDataset and DatasetPieces", { skip }, () => {
  it("give a worker exactly the rows published, piece by piece, and only those it asks for", () =>
    withServer(async (nc) => {
      const data = generate("xor", 1000, 5, 3);
      const published = await publishDataset(nc, data, 96);
      assert.equal(published.uploadedPieces, 11);
      assert.equal(published.manifest.fingerprint, datasetFingerprint(data));
      const store = await DatasetPieces.open(nc, datasetFingerprint(data), 96);
      assert.equal(store.pieces, 11);
      assert.deepEqual(store.manifest.featureNames, data.featureNames);
      const last = await store.piece(store.pieceOf(999));
      assert.equal(last.index, 10);
      assert.equal(last.firstRow, 960);
      assert.equal(last.rows, 40);
      assert.deepEqual(last.x, data.x.subarray(960 * 5));
      assert.deepEqual(last.y, data.y.subarray(960));
      const second = await store.piece(1);
      assert.deepEqual(second.x, data.x.subarray(96 * 5, 192 * 5));
      assert.deepEqual(store.cached(), [1, 10]);
      assert.equal(store.cachedBytes, 8 * (96 + 40) * 6);
      assert.equal(await store.piece(1), second, "served from memory the second time");
      store.release(1);
      await Promise.resolve();
      assert.deepEqual(store.cached(), [10]);
      assert.equal(store.cachedBytes, 8 * 40 * 6);
    }));

  it("uploads nothing the second time, and only what is missing after an interruption", () =>
    withServer(async (nc) => {
      const data = generate("circles", 700, 4, 1);
      const first = await publishDataset(nc, data, 64);
      assert.equal(first.uploadedPieces, 11);
      const messages = await storedMessages(nc);
      const again = await publishDataset(nc, data, 64);
      assert.equal(again.uploadedPieces, 0);
      assert.equal(again.uploadedBytes, 0);
      assert.deepEqual(again.manifest, first.manifest);
      assert.equal(await storedMessages(nc), messages, "nothing written to the stream");
      // A piece lost (an upload cut short): the next publication puts back that piece alone.
      const os = await new Objm(nc).open(DATA_BUCKET);
      await os.delete(`${first.manifest.fingerprint}-64/4`);
      const repaired = await publishDataset(nc, data, 64);
      assert.equal(repaired.uploadedPieces, 1);
      const store = await DatasetPieces.open(nc, first.manifest.fingerprint, 64);
      assert.deepEqual((await store.all()).x, data.x);
      // Other data, or other pieces of the same data, are other objects.
      assert.equal(
        (await publishDataset(nc, generate("circles", 700, 4, 2), 64)).uploadedPieces,
        11,
      );
      assert.equal((await publishDataset(nc, data, 128)).uploadedPieces, 6);
    }));

  it("detects a piece that does not match its manifest, and does not keep it", () =>
    withServer(async (nc) => {
      const data = generate("xor", 300, 3, 7);
      const { manifest } = await publishDataset(nc, data, 100);
      const os = await new Objm(nc).open(DATA_BUCKET);
      const name = `${manifest.fingerprint}-100/1`;
      const bytes = await os.getBlob(name);
      assert.ok(bytes);
      const flipped = bytes.slice();
      flipped[17] ^= 1; // one bit of one feature
      await os.putBlob({ name }, flipped);
      const store = await DatasetPieces.open(nc, manifest.fingerprint, 100);
      await assert.rejects(store.piece(1), (e) => {
        assert.ok(e instanceof ClusterError);
        assert.equal(
          e.message,
          `data set ${manifest.fingerprint}: piece 1 does not match its digest in the manifest; ` +
            "publish the data again",
        );
        return true;
      });
      assert.deepEqual(store.cached(), []);
      await os.putBlob({ name }, bytes.subarray(8));
      await assert.rejects(store.piece(1), /piece 1 has 3192 bytes, not 3200/);
      await os.delete(name);
      await assert.rejects(store.piece(1), /piece 1 is missing from the object store/);
      await assert.rejects(store.all(), ClusterError);
      // The other pieces are fine; publishing again repairs the damaged one.
      assert.deepEqual((await store.piece(2)).y, data.y.subarray(200));
      assert.equal((await publishDataset(nc, data, 100)).uploadedPieces, 1);
      assert.deepEqual((await store.piece(1)).x, data.x.subarray(300, 600));
    }));

  it("says plainly when a data set was never published", () =>
    withServer(async (nc) => {
      await assert.rejects(
        DatasetPieces.open(nc, "0123456789abcdef", 64),
        /^ClusterError: data set 0123456789abcdef \(pieces of 64 rows\) is not in the object store$/,
      );
    }));

  it("moves a 20 MiB data set through the store bit for bit", () =>
    withServer(async (nc) => {
      // 40960 rows × 63 features + labels, float64: 20 MiB.
      const data = generate("xor", 40960, 63, 5);
      const published = await publishDataset(nc, data, 1024);
      assert.equal(published.uploadedPieces, 40);
      assert.ok(published.uploadedBytes > 20 * 2 ** 20);
      const store = await DatasetPieces.open(nc, published.manifest.fingerprint, 1024);
      const back = await store.all();
      assert.deepEqual(new Uint8Array(back.x.buffer), new Uint8Array(data.x.buffer));
      assert.deepEqual(back.y, data.y);
      assert.equal(store.cachedBytes, 20 * 2 ** 20);
    }));
});

"""A local GCS for tests: `python gcs_emulator.py PORT BUCKET` serves gcp-storage-emulator (in memory) on
127.0.0.1:PORT with BUCKET created, until killed.

One gap of the emulator is filled: real GCS sends an object's generation in the `x-goog-generation` header of
a media download, and TensorStore's conditional writes (the OCDBT manifests Orbax writes) use it; the emulator
omits it, so TensorStore reads generation 0 and refuses the write ("Malformed StorageGeneration"). The
emulator does not check preconditions at all, so this is a single-writer GCS: enough for one training process.
"""
import sys
import time

from gcp_storage_emulator.exceptions import NotFound
from gcp_storage_emulator.handlers import objects

_download = objects.download


def _download_with_generation(request, response, storage, *args, **kwargs):
  try:
    obj = storage.get_file_obj(request.params["bucket_name"], request.params["object_id"])
    response["x-goog-generation"] = str(obj["generation"])
  except NotFound:  # the emulator's own handler answers 404
    pass
  return _download(request, response, storage, *args, **kwargs)


objects.download = _download_with_generation
from gcp_storage_emulator import server  # noqa: E402  (after the patch: the route table binds the handler)


def main(port: int, bucket: str) -> None:
  srv = server.create_server("127.0.0.1", port, in_memory=True, default_bucket=bucket)
  srv.start()
  while True:
    time.sleep(3600)


if __name__ == "__main__":
  main(int(sys.argv[1]), sys.argv[2])

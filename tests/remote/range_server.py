#!/usr/bin/env python3
"""An HTTP server for the tests of remote scenes: serves DIRECTORY on 127.0.0.1 only, with
range requests (what GDAL's /vsicurl/ reads a cloud-optimised GeoTIFF with), and logs every
request as a JSON line (method, path, range, bytes sent) to LOG. Writes the port it listens
on to PORT_FILE once it listens.

    range_server.py DIRECTORY LOG PORT_FILE
"""
import http.server
import json
import os
import re
import sys


class RangeHandler(http.server.BaseHTTPRequestHandler):
    directory = "."
    log_path = ""

    def _file(self):
        relative = self.path.split("?", 1)[0].lstrip("/")
        path = os.path.realpath(os.path.join(self.directory, relative))
        root = os.path.realpath(self.directory)
        if not path.startswith(root + os.sep) or not os.path.isfile(path):
            return None
        return path

    def _record(self, sent, requested):
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write(json.dumps({"method": self.command, "path": self.path,
                                  "range": requested, "bytes": sent}) + "\n")

    def _answer(self, with_body):
        path = self._file()
        if path is None:
            self.send_error(404)
            self._record(0, None)
            return
        size = os.path.getsize(path)
        requested = self.headers.get("Range")
        first, last = 0, size - 1
        status = 200
        if requested:
            match = re.fullmatch(r"bytes=(\d+)-(\d*)", requested.strip())
            if not match or int(match.group(1)) >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.end_headers()
                self._record(0, requested)
                return
            first = int(match.group(1))
            last = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
            status = 206
        self.send_response(status)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(last - first + 1))
        if status == 206:
            self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
        self.end_headers()
        sent = 0
        if with_body:
            with open(path, "rb") as data:
                data.seek(first)
                body = data.read(last - first + 1)
            self.wfile.write(body)
            sent = len(body)
        self._record(sent, requested)

    def do_HEAD(self):  # noqa: N802 (the name http.server calls)
        self._answer(False)

    def do_GET(self):  # noqa: N802
        self._answer(True)

    def log_message(self, *args):
        pass


def main():
    directory, log_path, port_file = sys.argv[1:4]
    RangeHandler.directory = directory
    RangeHandler.log_path = log_path
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    with open(port_file + ".part", "w", encoding="utf-8") as out:
        out.write(str(server.server_address[1]))
    os.rename(port_file + ".part", port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()

"""Images: layers, the embedded busybox image, and (issue 4) the content store.

Implements: spec/images.md
Explained:  chapters/04-images.md
Modelled on: the OCI image-spec; docker's image store and containerd's snapshotter

    layers     unpack(fileobj, dest): layer tars, refusing escapes
    bootstrap  busybox_layer(), image_archive(): busybox:latest with no network
"""

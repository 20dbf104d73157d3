"""Images: layers, the embedded busybox image, and (issue 4) the content store.

Implements: spec/images.md
Explained:  chapters/04-images.md
Modelled on: the OCI image-spec; docker's image store and containerd's snapshotter

    layers     apply(fileobj, dest): layer tars with whiteouts, gzip or plain, refusing escapes
    layer_stream  LayerStream, read_members(), open_layer(): a layer's tar read from its stream
    diff       diff_upper(), diff_directories(): changes back into a layer tar
    snapshots  OverlaySnapshotter, CopySnapshotter: prepare/view/commit -> mounts; mount_all()
    bootstrap  busybox_layer(), image_archive(): busybox:latest with no network
    digest     validate(), of_bytes(), Digester: sha256 digests, checked
    content    ContentStore: blobs by digest, atomic verified writes, gc(roots)
    reference  parse(), normalize(), familiar(): busybox -> docker.io/library/busybox:latest
    oci        media types, Descriptor, Manifest, Index, ImageConfig; parse(); diff_id, chain_id
    platforms  host(), normalize(), choose(): the index entry this host runs
    store      ImageStore (names -> manifests), add_image()
    layout     write_layout(), read_layout(): OCI image layouts (skopeo, umoci)
"""

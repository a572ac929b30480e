// Command pvprovisioner is the test bed's stand-in for the cloud CSI provisioners (EBS, GCE PD,
// Azure Disk): it gives every PersistentVolumeClaim of a StorageClass whose provisioner it serves
// a CSI PersistentVolume pre-bound to the claim, so that the PV controller binds them and
// StatefulSet pods schedule. With volumeBindingMode WaitForFirstConsumer it waits, as a real
// provisioner does, for the scheduler's volume.kubernetes.io/selected-node annotation and pins
// the volume to that node's zone. Released volumes with reclaimPolicy Delete are deleted.
// Nothing is ever attached or mounted: under kwok there is no kubelet.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

const (
	annSelectedNode  = "volume.kubernetes.io/selected-node"
	annProvisionedBy = "pv.kubernetes.io/provisioned-by"
	zoneLabel        = "topology.kubernetes.io/zone"
)

type provisioner struct {
	client  kubernetes.Interface
	drivers map[string]bool
	classes func(name string) (*storagev1.StorageClass, error)
	nodes   func(name string) (*corev1.Node, error)
}

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster")
	driverList := flag.String("provisioners", "ebs.csi.aws.com,pd.csi.storage.gke.io,disk.csi.azure.com",
		"comma-separated StorageClass provisioner names to serve")
	resync := flag.Duration("resync", 10*time.Second, "informer resync period (retries)")
	flag.Parse()

	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		log.Fatalf("kubeconfig: %v", err)
	}
	cfg.UserAgent = "caracal-testbed-pv-provisioner"
	client := kubernetes.NewForConfigOrDie(cfg)

	drivers := map[string]bool{}
	for _, d := range strings.Split(*driverList, ",") {
		if d = strings.TrimSpace(d); d != "" {
			drivers[d] = true
		}
	}

	factory := informers.NewSharedInformerFactory(client, *resync)
	classLister := factory.Storage().V1().StorageClasses().Lister()
	nodeLister := factory.Core().V1().Nodes().Lister()
	p := &provisioner{client: client, drivers: drivers, classes: classLister.Get, nodes: nodeLister.Get}

	pvcInformer := factory.Core().V1().PersistentVolumeClaims().Informer()
	pvInformer := factory.Core().V1().PersistentVolumes().Informer()
	onPVC := func(obj interface{}) {
		if pvc, ok := obj.(*corev1.PersistentVolumeClaim); ok {
			p.syncClaim(pvc)
		}
	}
	onPV := func(obj interface{}) {
		if pv, ok := obj.(*corev1.PersistentVolume); ok {
			p.syncVolume(pv)
		}
	}
	if _, err := pvcInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onPVC, UpdateFunc: func(_, n interface{}) { onPVC(n) },
	}); err != nil {
		log.Fatal(err)
	}
	if _, err := pvInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onPV, UpdateFunc: func(_, n interface{}) { onPV(n) },
	}); err != nil {
		log.Fatal(err)
	}
	// Listers used by the handlers must exist before the factory starts.
	factory.Storage().V1().StorageClasses().Informer()
	factory.Core().V1().Nodes().Informer()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	log.Printf("serving provisioners %s", *driverList)
	<-ctx.Done()
	factory.Shutdown()
}

func (p *provisioner) syncClaim(pvc *corev1.PersistentVolumeClaim) {
	if pvc.Spec.VolumeName != "" || pvc.Status.Phase != corev1.ClaimPending || pvc.DeletionTimestamp != nil {
		return
	}
	if pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName == "" {
		return
	}
	class, err := p.classes(*pvc.Spec.StorageClassName)
	if err != nil || !p.drivers[class.Provisioner] {
		return
	}
	selected := pvc.Annotations[annSelectedNode]
	if class.VolumeBindingMode != nil && *class.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer && selected == "" {
		return // the scheduler has not picked a node yet
	}
	size, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	if !ok {
		return
	}
	reclaim := corev1.PersistentVolumeReclaimDelete
	if class.ReclaimPolicy != nil {
		reclaim = *class.ReclaimPolicy
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        "pvc-" + string(pvc.UID),
			Annotations: map[string]string{annProvisionedBy: class.Provisioner},
			Finalizers:  []string{"kubernetes.io/pv-protection"},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: size},
			AccessModes:                   pvc.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: reclaim,
			StorageClassName:              class.Name,
			VolumeMode:                    pvc.Spec.VolumeMode,
			MountOptions:                  class.MountOptions,
			ClaimRef: &corev1.ObjectReference{
				APIVersion: "v1", Kind: "PersistentVolumeClaim",
				Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID,
			},
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				CSI: &corev1.CSIPersistentVolumeSource{
					Driver:       class.Provisioner,
					VolumeHandle: fmt.Sprintf("caracal-testbed-%s", pvc.UID),
					FSType:       "ext4",
				},
			},
		},
	}
	if selected != "" {
		if node, err := p.nodes(selected); err == nil && node.Labels[zoneLabel] != "" {
			pv.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{
					Key: zoneLabel, Operator: corev1.NodeSelectorOpIn, Values: []string{node.Labels[zoneLabel]},
				}}}},
			}}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = p.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	switch {
	case err == nil:
		log.Printf("provisioned %s (%s, %s) for %s/%s", pv.Name, class.Name, size.String(), pvc.Namespace, pvc.Name)
	case apierrors.IsAlreadyExists(err):
	default:
		log.Printf("provisioning for %s/%s: %v", pvc.Namespace, pvc.Name, err)
	}
}

func (p *provisioner) syncVolume(pv *corev1.PersistentVolume) {
	if pv.Status.Phase != corev1.VolumeReleased || pv.DeletionTimestamp != nil ||
		pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete ||
		!p.drivers[pv.Annotations[annProvisionedBy]] {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := p.client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{})
	switch {
	case err == nil:
		log.Printf("deleted released %s", pv.Name)
	case apierrors.IsNotFound(err):
	default:
		log.Printf("deleting %s: %v", pv.Name, err)
	}
}
